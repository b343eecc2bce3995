"""The builder's blinding page (studies.views_blinding, studies.builder_blinding): what
the blinding guard does with a model's name, saved on the study's history, tightened but
never loosened once participants entered, and what the guard then applies to a chat."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.chat.blinding import displayed
from studyapp.chat.services import conversation_get_or_create
from studyapp.participation.models import Task
from studyapp.studies.models import Study
from studyapp.studies.roles import Role
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
)
from tests.participation.conftest import enter


@pytest.fixture
def draft(alice) -> Study:
    study = make_study("guarded", status=Study.Status.DRAFT, title="Guarded study")
    make_member(study, alice)
    make_llm_arm(study, make_endpoint(), key="llama", blinding_terms=["Llama", "Meta AI"])
    make_scenario(study, "s1")
    make_scenario(study, "s2")
    return study


def url(study: Study) -> str:
    return reverse("studies:blinding", args=[study.slug])


def post(client, study, **overrides):
    data = {"blinding_action": "replace", "blinding_replacement": "the assistant"}
    data.update(overrides)
    return client.post(url(study), data)


def test_the_page_says_what_each_action_does_and_lists_the_arms_terms(client, alice, draft):
    client.force_login(alice)
    response = client.get(url(draft))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="blinding-help-replace"' in html and 'id="blinding-help-flag"' in html
    assert "exactly as the model wrote it" in html
    assert 'value="replace" ' in html and "checked" in html
    assert "Llama, Meta AI" in html
    assert reverse("studies:arm_edit", args=[draft.slug, draft.arms.get().pk]) in html


def test_it_saves_the_action_and_words_on_the_history_and_audit_trail(client, alice, draft):
    client.force_login(alice)
    response = post(client, draft, blinding_action="flag", blinding_replacement="  the  helper ")
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.blinding_action, draft.blinding_replacement) == ("flag", "the helper")
    assert draft.history.first().blinding_action == "flag"
    entry = AuditEntry.objects.filter(study_id=draft.pk, action="change").last()
    assert entry.actor == alice
    assert entry.before == {"blinding_action": "replace", "blinding_replacement": "the assistant"}
    assert entry.after == {"blinding_action": "flag", "blinding_replacement": "the helper"}


def test_a_replacement_that_names_the_model_is_refused_beside_its_field(client, alice, draft):
    client.force_login(alice)
    response = post(client, draft, blinding_replacement="meta ai")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_blinding_replacement-error"' in html
    assert "a blinding term of the study" in html
    response = post(client, draft, blinding_replacement="")
    assert 'id="id_blinding_replacement-error"' in response.content.decode()
    draft.refresh_from_db()
    assert draft.blinding_replacement == "the assistant"
    assert not AuditEntry.objects.filter(study_id=draft.pk, action="change").exists()


def test_once_participants_entered_the_guard_is_tightened_never_loosened(client, alice, draft):
    Study.objects.filter(pk=draft.pk).update(blinding_action="flag")
    make_participant(draft)
    client.force_login(alice)
    assert 'id="blinding-fixed"' in client.get(url(draft)).content.decode()
    assert post(client, draft, blinding_action="replace").status_code == 302
    draft.refresh_from_db()
    assert draft.blinding_action == "replace"
    response = post(client, draft, blinding_action="flag", blinding_replacement="the aide")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_blinding_action-error"' in html and "never loosened" in html
    draft.refresh_from_db()
    assert (draft.blinding_action, draft.blinding_replacement) == ("replace", "the assistant")
    # The words may still be corrected while it runs.
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.LIVE)
    assert post(client, draft, blinding_replacement="the aide").status_code == 302
    draft.refresh_from_db()
    assert draft.blinding_replacement == "the aide"


@pytest.mark.parametrize("role", [None, Role.ANALYST, Role.BLINDED_ANALYST, Role.AUDITOR])
def test_others_get_404_and_change_nothing(client, bob, draft, role):
    if role is not None:
        make_member(draft, bob, role)
    client.force_login(bob)
    assert client.get(url(draft)).status_code == 404
    assert post(client, draft, blinding_action="flag").status_code == 404
    draft.refresh_from_db()
    assert draft.blinding_action == "replace"


def test_anonymous_visitors_sign_in(client, draft):
    response = client.get(url(draft))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("action", ["replace", "flag"])
def test_the_action_saved_on_the_page_is_the_one_the_guard_applies(client, alice, draft, action):
    client.force_login(alice)
    assert (
        post(client, draft, blinding_action=action, blinding_replacement="the aide").status_code
        == 302
    )
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.LIVE)
    client.logout()
    flow = enter(client, draft)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    task = Task.objects.filter(participant=flow.refresh(), status=Task.Status.ACTIVE).first()
    conversation = conversation_get_or_create(task=task)
    shown = displayed(
        "I am Llama, made by Meta AI.",
        conversation.blinding_terms,
        conversation.blinding_replacement,
    )
    if action == "replace":
        assert shown == "I am the aide, made by the aide."
    else:
        assert shown == "I am Llama, made by Meta AI."


def test_the_study_and_builder_pages_link_to_blinding_and_translations(client, alice, draft):
    client.force_login(alice)
    links = [
        reverse("studies:blinding", args=[draft.slug]),
        reverse("studies:translations", args=[draft.slug]),
    ]
    pages = [
        reverse(f"studies:{name}", args=[draft.slug])
        for name in ("settings", "arms", "screening", "blinding", "translations")
    ]
    pages.append(reverse("analysis:study_detail", args=[draft.slug]))
    for page in pages:
        html = client.get(page).content.decode()
        for link in links:
            assert f'href="{link}"' in html, (page, link)
