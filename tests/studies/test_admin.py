from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from studyapp.accounts.services import user_make_investigator
from studyapp.participation.models import Task
from studyapp.studies.models import Scenario, Study
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)


@pytest.fixture
def root(db):
    return make_user("root", superuser=True)


@pytest.fixture
def alice(db):
    user = make_user("alice")
    user_make_investigator(user=user)
    return user


@pytest.fixture
def bob(db):
    user = make_user("bob")
    user_make_investigator(user=user)
    return user


@pytest.fixture
def alpha(alice):
    study = make_study("alpha", title="Alpha study")
    make_member(study, alice)
    return study


@pytest.fixture
def beta(bob):
    study = make_study("beta", title="Beta study")
    make_member(study, bob)
    return study


def scenario_with_a_task(study: Study) -> Scenario:
    scenario = make_scenario(study, "belly")
    Task.objects.create(participant=make_participant(study), scenario=scenario, position=1)
    return scenario


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def test_an_investigator_sees_only_their_own_studies(client, alice, alpha, beta):
    client.force_login(alice)
    response = client.get(reverse("admin:studies_study_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == [alpha]


def test_an_investigator_cannot_open_another_investigators_study(client, alice, beta):
    client.force_login(alice)
    response = client.get(change_url(beta))
    # The admin treats an object outside the queryset as missing.
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_an_investigator_sees_only_their_own_scenarios_and_arms(client, alice, alpha, beta):
    mine = make_scenario(alpha, "mine")
    theirs = make_scenario(beta, "theirs")
    client.force_login(alice)
    response = client.get(reverse("admin:studies_scenario_changelist"))
    assert list(response.context["cl"].queryset) == [mine]
    assert client.get(change_url(theirs)).status_code == 302


def test_an_investigator_can_only_pick_their_own_studies_in_forms(client, alice, alpha, beta):
    client.force_login(alice)
    response = client.get(reverse("admin:studies_scenario_add"))
    assert list(response.context["adminform"].form.fields["study"].queryset) == [alpha]


def test_an_investigator_who_creates_a_study_can_see_it(client, alice, alpha):
    alice.user_permissions.add(Permission.objects.get(codename="add_study"))
    client.force_login(alice)
    response = client.post(
        reverse("admin:studies_study_add"),
        {
            "title": "New study",
            "slug": "new-study",
            "public_title": "Health scenarios study",
            "status": "draft",
            "disposition_scale": alpha.disposition_scale_id,
            "languages": '["en", "de"]',
            "scenarios_per_participant": 2,
            "consent_text": "Consent.",
            "instructions_text": "Instructions.",
            "disposition_question": "What healthcare service do you need?",
            "conditions_question": "Why?",
            "allocation_seed": 7,
            "allocation_method": "blocks",
            "stratum_source": "entry_parameter",
            "check_attempts": 1,
            "time_limit_minutes": 0,
            "condition_labels": "matcher",
            "blinding_action": "replace",
            "blinding_replacement": "the assistant",
            "technical_exit_after": 3,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(
        Study.objects.get(slug="new-study").memberships.values_list("user__username", "role")
    ) == [("alice", "owner")]
    assert Study.objects.get(slug="new-study").languages == ["en", "de"]


def test_an_unused_scenario_can_be_edited(client, root, alpha):
    scenario = make_scenario(alpha, "belly")
    client.force_login(root)
    form = client.get(change_url(scenario)).context["adminform"].form
    assert "title" in form.fields
    assert "gold_conditions" in form.fields


def test_a_scenario_with_tasks_is_read_only(client, root, alpha):
    scenario = scenario_with_a_task(alpha)
    client.force_login(root)
    response = client.get(change_url(scenario))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert not {"title", "sections", "gold_disposition", "gold_conditions"} & set(form.fields)
    client.post(change_url(scenario), {"title": "Edited"})
    scenario.refresh_from_db()
    assert scenario.title == "Scenario belly"


def test_a_scenario_with_tasks_cannot_be_deleted(client, root, alpha):
    scenario = scenario_with_a_task(alpha)
    client.force_login(root)
    url = reverse("admin:studies_scenario_delete", args=[scenario.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Scenario.objects.filter(pk=scenario.pk).exists()


def test_the_new_version_action_copies_and_deactivates(client, root, alpha):
    scenario = scenario_with_a_task(alpha)
    client.force_login(root)
    response = client.post(
        reverse("admin:studies_scenario_changelist"),
        {"action": "create_new_version", "_selected_action": [scenario.pk]},
    )
    assert response.status_code == 302
    versions = list(Scenario.objects.filter(study=alpha, key="belly").order_by("version"))
    assert [(s.version, s.is_active) for s in versions] == [(1, False), (2, True)]
    old, new = versions
    assert (new.title, new.sections, new.gold_conditions, new.red_flags) == (
        old.title,
        old.sections,
        old.gold_conditions,
        old.red_flags,
    )
    assert new.gold_disposition_id == old.gold_disposition_id
    # The data keeps pointing at what participants read; the copy is free to edit.
    assert old.tasks.count() == 1
    form = client.get(change_url(new)).context["adminform"].form
    assert "title" in form.fields


def test_a_second_new_version_takes_the_next_number(db, alpha):
    from studyapp.studies.services import scenario_create_new_version

    v1 = make_scenario(alpha, "belly")
    v2 = scenario_create_new_version(scenario_id=v1.pk)
    v3 = scenario_create_new_version(scenario_id=v1.pk)  # from an old version: still next
    assert (v2.version, v3.version) == (2, 3)
    assert list(Scenario.objects.active().filter(key="belly")) == [v3]


def test_the_scale_admin_edits_levels_inline(client, root, alpha):
    client.force_login(root)
    scale = alpha.disposition_scale
    response = client.get(change_url(scale))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.queryset.count() == 5


def endpoint_form_data(endpoint, **changes) -> dict:
    data = {
        "name": endpoint.name,
        "base_url": endpoint.base_url,
        "model": endpoint.model,
        "api_key_env": "",
        "timeout_s": endpoint.timeout_s,
        "max_concurrent_streams": endpoint.max_concurrent_streams,
        "evaluation_concurrency": endpoint.evaluation_concurrency,
        "price_prompt_per_million": "",
        "price_completion_per_million": "",
    }
    return data | changes


def test_the_endpoint_admin_edits_evaluation_concurrency_and_prices(client, root):
    endpoint = make_endpoint()
    client.force_login(root)
    response = client.get(change_url(endpoint))
    fieldsets = {name: opts["fields"] for name, opts in response.context["adminform"].fieldsets}
    assert fieldsets["Prices per million tokens"] == [
        "price_prompt_per_million",
        "price_completion_per_million",
    ]
    assert "evaluation_concurrency" in fieldsets["Load"]
    assert "a change here applies to new runs only" in response.content.decode()

    response = client.post(
        change_url(endpoint),
        endpoint_form_data(
            endpoint,
            evaluation_concurrency=3,
            price_prompt_per_million="2.50",
            price_completion_per_million="10",
        ),
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.evaluation_concurrency == 3
    assert endpoint.price_prompt_per_million == Decimal("2.5")
    assert endpoint.price_completion_per_million == Decimal("10")

    # Empty prices are unknown prices.
    client.post(change_url(endpoint), endpoint_form_data(endpoint))
    endpoint.refresh_from_db()
    assert endpoint.price_prompt_per_million is None


def test_the_endpoint_admin_refuses_a_negative_price_and_no_concurrency(client, root):
    endpoint = make_endpoint()
    client.force_login(root)
    response = client.post(
        change_url(endpoint),
        endpoint_form_data(endpoint, evaluation_concurrency=0, price_prompt_per_million="-1"),
    )
    errors = response.context["adminform"].form.errors
    assert errors["price_prompt_per_million"] == ["A price cannot be negative."]
    assert "evaluation_concurrency" in errors
    endpoint.refresh_from_db()
    assert endpoint.price_prompt_per_million is None and endpoint.evaluation_concurrency == 8


def test_an_investigator_sees_only_the_endpoints_of_their_studies(client, alice, alpha, beta):
    mine = make_endpoint(name="alpha-model")
    theirs = make_endpoint(name="beta-model")
    make_endpoint(name="unused")
    make_llm_arm(alpha, mine)
    make_llm_arm(beta, theirs)
    client.force_login(alice)

    response = client.get(reverse("admin:studies_modelendpoint_changelist"))
    assert list(response.context["cl"].queryset) == [mine]
    assert client.get(change_url(theirs)).status_code == 302  # as if it did not exist


def test_an_investigator_can_only_pick_the_endpoints_of_their_studies(client, alice, alpha, beta):
    mine = make_endpoint(name="alpha-model")
    make_llm_arm(alpha, mine)
    make_llm_arm(beta, make_endpoint(name="beta-model"))
    client.force_login(alice)

    response = client.get(reverse("admin:studies_arm_add"))
    assert list(response.context["adminform"].form.fields["endpoint"].queryset) == [mine]


def test_a_superuser_sees_and_picks_every_endpoint(client, root, alpha):
    endpoints = [make_endpoint(name="a"), make_endpoint(name="b")]
    client.force_login(root)
    response = client.get(reverse("admin:studies_modelendpoint_changelist"))
    assert set(response.context["cl"].queryset) == set(endpoints)
    response = client.get(reverse("admin:studies_arm_add"))
    assert set(response.context["adminform"].form.fields["endpoint"].queryset) == set(endpoints)


def test_investigators_cannot_create_endpoints(client, alice):
    client.force_login(alice)
    assert client.get(reverse("admin:studies_modelendpoint_add")).status_code == 403


def test_the_study_form_sets_the_prolific_study_id(client, root, alpha):
    client.force_login(root)
    form = client.get(change_url(alpha)).context["adminform"].form
    assert "prolific_study_id" in form.fields
