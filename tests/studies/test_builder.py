"""The study builder's pages: a new study (from scratch, as a copy), its settings, its
scenarios (studies.views_builder, studies.builder)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.participation.models import Task
from studyapp.studies import builder
from studyapp.studies.forms_builder import ArmForm
from studyapp.studies.models import DispositionScale, Scenario, Study
from studyapp.studies.roles import Role
from studyapp.studies.services import disposition_scale_get_or_create_default
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
)


@pytest.fixture
def draft(alice) -> Study:
    study = make_study("draft", status=Study.Status.DRAFT, title="Draft study")
    make_member(study, alice)
    make_llm_arm(study, make_endpoint(name="team-vllm"), key="llama")
    make_control_arm(study)
    make_scenario(study, "s1", condition_synonyms={"appendicitis": ["appendix"]})
    make_scenario(study, "s2", level_code="self_care")
    return study


def new_study(client, **overrides):
    scale = disposition_scale_get_or_create_default()
    data = {
        "how": "scratch",
        "new-title": "First study",
        "new-slug": "first",
        "new-first_language": "en",
        "new-quota_per_arm": "600",
        "new-disposition_scale": scale.pk,
        "new-consent_text": "You agree.",
        "new-instructions_text": "Read and answer.",
    }
    data.update(overrides)
    return client.post(reverse("studies:study_new"), data)


# --- A new study ---------------------------------------------------------------------


def test_the_study_list_links_to_new_study(client, alice):
    client.force_login(alice)
    html = client.get(reverse("analysis:study_list")).content.decode()
    assert reverse("studies:study_new") in html


def test_it_creates_a_draft_study_whose_owner_is_the_creator(client, alice):
    client.force_login(alice)
    response = new_study(client, **{"new-other_languages": ["de"]})
    assert response.status_code == 302
    assert response["Location"] == reverse("studies:settings", args=["first"])
    study = Study.objects.get(slug="first")
    assert (study.title, study.status, study.languages) == (
        "First study",
        Study.Status.DRAFT,
        ["en", "de"],
    )
    assert study.disposition_scale.slug == "nhs-5"
    assert list(study.memberships.values_list("user", "role")) == [(alice.pk, "owner")]
    assert AuditEntry.objects.filter(
        study_id=study.pk, object_type="studies.study", actor=alice
    ).exists()


def test_a_new_study_has_the_quota_it_was_given(client, alice):
    client.force_login(alice)
    html = client.get(reverse("studies:study_new")).content.decode()
    # Asked with what it counts and an example, not first met at the launch checklist.
    assert '<label for="id_new-quota_per_arm">Responses per arm:</label>' in html
    assert "HELPMed: 600 per arm, from 1,298 participants over 4 arms" in html
    assert new_study(client).status_code == 302
    assert Study.objects.get(slug="first").quota_per_arm == 600


def test_a_new_study_without_a_quota_is_refused_beside_the_field(client, alice):
    client.force_login(alice)
    for quota in ("", "0"):
        response = new_study(client, **{"new-quota_per_arm": quota})
        assert response.status_code == 400
        assert 'id="id_new-quota_per_arm-error"' in response.content.decode()
    assert not Study.objects.filter(slug="first").exists()


def test_the_first_language_ticked_again_is_refused_beside_the_field(client, alice):
    client.force_login(alice)
    response = new_study(client, **{"new-other_languages": ["en", "de"]})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_new-other_languages-error"' in html
    assert "English is the first language already" in html
    assert not Study.objects.filter(slug="first").exists()
    response = new_study(client, **{"new-first_language": "de", "new-other_languages": ["en"]})
    assert response.status_code == 302
    assert Study.objects.get(slug="first").languages == ["de", "en"]


def test_the_new_form_hides_the_first_language_among_the_others(client, alice):
    client.force_login(alice)
    html = client.get(reverse("studies:study_new")).content.decode()
    # languages_field.js finds the two fields by these marks; without it the server's
    # check above says what is wrong.
    assert "js/languages_field.js" in html
    assert 'name="new-first_language" data-first-language' in html
    assert html.count("data-other-languages") == 2  # one per language's box


def test_the_new_form_offers_every_scale(client, alice):
    other = DispositionScale.objects.create(slug="three", name="Three levels")
    client.force_login(alice)
    html = client.get(reverse("studies:study_new")).content.decode()
    assert "Three levels" in html and "NHS-style 5-level disposition" in html
    assert new_study(client, **{"new-disposition_scale": other.pk}).status_code == 302
    assert Study.objects.get(slug="first").disposition_scale == other


def test_a_new_study_shows_each_error_beside_its_field(client, alice, draft):
    client.force_login(alice)
    response = new_study(client, **{"new-slug": "draft", "new-consent_text": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_new-slug-error"' in html and "A study with this slug exists" in html
    assert 'id="id_new-consent_text-error"' in html
    assert not Study.objects.filter(title="First study").exists()


def test_a_copy_keeps_arms_and_scenarios_without_seed_or_members(client, alice, bob, draft):
    make_member(draft, bob, Role.COLLABORATOR)
    client.force_login(alice)
    response = client.post(
        reverse("studies:study_new"),
        {"how": "copy", "copy-source": draft.pk, "copy-slug": "copy", "copy-title": "A copy"},
    )
    assert response.status_code == 302
    copy = Study.objects.get(slug="copy")
    assert (copy.title, copy.status) == ("A copy", Study.Status.DRAFT)
    assert sorted(copy.arms.values_list("key", flat=True)) == ["control", "llama"]
    assert copy.arms.get(key="llama").endpoint.name == "team-vllm"
    s1 = copy.scenarios.get(key="s1")
    assert s1.condition_synonyms == {"appendicitis": ["appendix"]}
    assert sorted(copy.scenarios.values_list("key", flat=True)) == ["s1", "s2"]
    assert copy.allocation_seed != draft.allocation_seed
    assert list(copy.memberships.values_list("user", "role")) == [(alice.pk, "owner")]


def test_only_studies_whose_design_the_user_sees_can_be_copied(client, bob, draft):
    make_member(draft, bob, Role.BLINDED_ANALYST)
    client.force_login(bob)
    html = client.get(reverse("studies:study_new")).content.decode()
    assert "Draft study" not in html
    response = client.post(
        reverse("studies:study_new"),
        {"how": "copy", "copy-source": draft.pk, "copy-slug": "copy", "copy-title": "A copy"},
    )
    assert response.status_code == 400
    assert not Study.objects.filter(slug="copy").exists()


def test_a_copy_naming_an_endpoint_the_user_may_not_use_is_refused(client, bob, draft):
    # An analyst sees the design but does not run the study's models.
    make_member(draft, bob, Role.ANALYST)
    client.force_login(bob)
    response = client.post(
        reverse("studies:study_new"),
        {"how": "copy", "copy-source": draft.pk, "copy-slug": "copy", "copy-title": "A copy"},
    )
    assert response.status_code == 400
    assert "team-vllm" in response.content.decode()
    assert not Study.objects.filter(slug="copy").exists()


# --- Settings ------------------------------------------------------------------------


def settings_data(study, **overrides):
    data = {
        "title": study.title,
        "public_title": study.public_title,
        "consent_text": study.consent_text,
        "instructions_text": study.instructions_text,
        "disposition_question": study.disposition_question,
        "conditions_question": study.conditions_question,
        "disposition_scale": study.disposition_scale_id,
        "languages": ", ".join(study.languages),
    }
    data.update(overrides)
    return data


def test_settings_change_the_texts_on_the_audit_trail(client, alice, draft):
    client.force_login(alice)
    url = reverse("studies:settings", args=[draft.slug])
    response = client.post(url, settings_data(draft, consent_text="New consent."))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.consent_text == "New consent."
    entry = AuditEntry.objects.filter(study_id=draft.pk, action="change").last()
    assert entry.actor == alice and "consent_text" in entry.after


def test_settings_show_the_models_message_beside_the_field(client, alice, draft):
    client.force_login(alice)
    url = reverse("studies:settings", args=[draft.slug])
    response = client.post(url, settings_data(draft, languages="en, xx"))
    assert response.status_code == 400
    assert 'id="id_languages-error"' in response.content.decode()


def test_a_scale_change_is_refused_while_scenarios_use_the_old_one(client, alice, draft):
    other = DispositionScale.objects.create(slug="three", name="Three levels")
    client.force_login(alice)
    url = reverse("studies:settings", args=[draft.slug])
    response = client.post(url, settings_data(draft, disposition_scale=other.pk))
    assert response.status_code == 400
    assert "delete the scenarios first" in response.content.decode()
    draft.refresh_from_db()
    assert draft.disposition_scale.slug == "nhs-5"


def test_a_live_study_keeps_its_scale_and_languages(client, alice, draft):
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.LIVE)
    draft.refresh_from_db()
    client.force_login(alice)
    url = reverse("studies:settings", args=[draft.slug])
    html = client.get(url).content.decode()
    assert 'id="settings-locked"' in html
    response = client.post(url, settings_data(draft, languages="en, de", title="Renamed"))
    assert response.status_code == 302
    draft.refresh_from_db()
    # The disabled field keeps its value whatever is posted; the title changes.
    assert (draft.languages, draft.title) == (["en"], "Renamed")


def test_a_preview_does_not_fix_a_drafts_scale_and_languages(client, alice, draft):
    make_participant(draft, is_preview=True)
    assert not builder.study_started(draft)
    make_participant(draft)
    assert builder.study_started(draft)


# --- Scenarios -----------------------------------------------------------------------


def scenario_data(study, **overrides):
    level = study.disposition_scale.levels.get(code="ae")
    data = {
        "key": "s3",
        "title": "Chest pain",
        "section_heading": ["Your situation", "History"],
        "section_text": ["You have chest pain.", "You smoke."],
        "gold_disposition": level.pk,
        "gold_conditions": "myocardial infarction\nangina",
        "red_flags": "pain spreading to the arm",
        "condition_synonyms": "myocardial infarction = MI, heart attack",
        "provenance": "Written for the test.",
    }
    data.update(overrides)
    return data


def test_the_scenario_pages_show_the_builders_tabs_with_scenarios_current(client, alice, draft):
    client.force_login(alice)
    scenario = draft.scenarios.get(key="s1")
    for url in (
        reverse("studies:scenario_new", args=[draft.slug]),
        reverse("studies:scenario_edit", args=[draft.slug, scenario.pk]),
    ):
        html = client.get(url).content.decode()
        assert '<nav class="builder-nav" aria-label="Study builder">' in html
        # A page within the tab: the tab is current, but not this page ("true").
        assert 'aria-current="page"' not in html and html.count('aria-current="true"') == 1
        assert 'id="scenarios-link" aria-current="true">Scenarios</a>' in html
        assert f'href="{reverse("studies:arms", args=[draft.slug])}"' in html
    # A row button swaps the form alone: the tabs are not sent again inside it.
    response = client.post(
        reverse("studies:scenario_new", args=[draft.slug]),
        {**scenario_data(draft), "section_action": "add"},
        headers={"HX-Request": "true"},
    )
    assert "builder-nav" not in response.content.decode()


def test_it_adds_a_scenario_with_sections_and_lists(client, alice, draft):
    client.force_login(alice)
    response = client.post(
        reverse("studies:scenario_new", args=[draft.slug]), scenario_data(draft)
    )
    assert response.status_code == 302
    scenario = Scenario.objects.get(study=draft, key="s3")
    assert scenario.sections == [
        {"heading": "Your situation", "text": "You have chest pain."},
        {"heading": "History", "text": "You smoke."},
    ]
    assert scenario.gold_conditions == ["myocardial infarction", "angina"]
    assert scenario.red_flags == ["pain spreading to the arm"]
    assert scenario.condition_synonyms == {"myocardial infarction": ["MI", "heart attack"]}
    assert scenario.gold_disposition.code == "ae"
    html = client.get(reverse("studies:scenarios", args=[draft.slug])).content.decode()
    assert "Chest pain" in html


def test_row_buttons_add_remove_and_move_sections_without_saving(client, alice, draft):
    client.force_login(alice)
    url = reverse("studies:scenario_new", args=[draft.slug])
    html = client.post(url, scenario_data(draft, section_action="down-0")).content.decode()
    assert html.index("You smoke.") < html.index("You have chest pain.")
    html = client.post(url, scenario_data(draft, section_action="add")).content.decode()
    assert html.count('name="section_text"') == 3
    html = client.post(url, scenario_data(draft, section_action="remove-0")).content.decode()
    assert html.count('name="section_text"') == 1 and "You have chest pain." not in html
    assert not Scenario.objects.filter(key="s3").exists()


def test_the_htmx_row_button_returns_the_form_alone(client, alice, draft):
    client.force_login(alice)
    url = reverse("studies:scenario_new", args=[draft.slug])
    response = client.post(url, scenario_data(draft, section_action="add"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<form method="post" class="card scenario-form"')
    assert "<h1>" not in html


def test_an_htmx_save_refused_returns_the_form_with_its_messages_as_200(client, alice, draft):
    # htmx does not swap a 400: the messages would never be shown.
    client.force_login(alice)
    response = client.post(
        reverse("studies:scenario_new", args=[draft.slug]),
        scenario_data(draft, gold_conditions=""),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'id="id_gold_conditions-error"' in response.content.decode()
    assert not Scenario.objects.filter(study=draft, key="s3").exists()


def test_each_invalid_field_has_its_message(client, alice, draft):
    client.force_login(alice)
    response = client.post(
        reverse("studies:scenario_new", args=[draft.slug]),
        scenario_data(
            draft,
            key="s1",
            gold_conditions="",
            condition_synonyms="angina = stable angina\nstroke = CVA",
            section_text=["You have chest pain.", ""],
        ),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_gold_conditions-error"' in html
    assert 'id="section-text-1-error"' in html
    assert not Scenario.objects.filter(study=draft, title="Chest pain").exists()
    response = client.post(
        reverse("studies:scenario_new", args=[draft.slug]),
        scenario_data(draft, key="s1", condition_synonyms="stroke = CVA"),
    )
    html = response.content.decode()
    assert "Another scenario of this study has this key." in html
    assert "“stroke” is not one of the gold conditions or red flags" in html
    assert 'id="id_condition_synonyms-error"' in html


def test_an_unused_scenario_is_edited_in_place(client, alice, draft):
    scenario = draft.scenarios.get(key="s1")
    client.force_login(alice)
    url = reverse("studies:scenario_edit", args=[draft.slug, scenario.pk])
    assert "Your situation" in client.get(url).content.decode()
    response = client.post(url, scenario_data(draft, key="ignored", title="Renamed"))
    assert response.status_code == 302
    scenario.refresh_from_db()
    assert (scenario.key, scenario.title, scenario.version) == ("s1", "Renamed", 1)
    entry = AuditEntry.objects.filter(object_type="studies.scenario", action="change").last()
    assert entry.actor == alice


def test_a_used_scenario_gets_a_new_version_and_the_old_one_stays(client, alice, draft):
    scenario = draft.scenarios.get(key="s1")
    Task.objects.create(participant=make_participant(draft), scenario=scenario, position=1)
    client.force_login(alice)
    url = reverse("studies:scenario_edit", args=[draft.slug, scenario.pk])
    assert 'id="scenario-referenced"' in client.get(url).content.decode()
    response = client.post(url, scenario_data(draft, title="Renamed"), follow=True)
    assert "your changes are version 2" in response.content.decode()
    scenario.refresh_from_db()
    assert (scenario.title, scenario.is_active) == ("Scenario s1", False)
    new = draft.scenarios.get(key="s1", is_active=True)
    assert (new.version, new.title) == (2, "Renamed")


def test_a_used_scenario_cannot_be_deleted(client, alice, draft):
    used, unused = draft.scenarios.get(key="s1"), draft.scenarios.get(key="s2")
    Task.objects.create(participant=make_participant(draft), scenario=used, position=1)
    client.force_login(alice)
    response = client.post(
        reverse("studies:scenario_delete", args=[draft.slug, used.pk]), follow=True
    )
    assert "it is kept with their data" in response.content.decode()
    assert Scenario.objects.filter(pk=used.pk).exists()
    client.post(reverse("studies:scenario_delete", args=[draft.slug, unused.pk]))
    assert not Scenario.objects.filter(pk=unused.pk).exists()


# --- Who may -------------------------------------------------------------------------


def builder_urls(study):
    scenario = study.scenarios.get(key="s1")
    return [
        reverse("studies:settings", args=[study.slug]),
        reverse("studies:scenarios", args=[study.slug]),
        reverse("studies:scenario_new", args=[study.slug]),
        reverse("studies:scenario_edit", args=[study.slug, scenario.pk]),
    ]


@pytest.mark.parametrize("role", [None, Role.BLINDED_ANALYST, Role.AUDITOR, Role.ANALYST])
def test_strangers_and_read_only_roles_get_404_and_change_nothing(client, bob, draft, role):
    if role is not None:
        make_member(draft, bob, role)
    client.force_login(bob)
    for url in builder_urls(draft):
        assert client.get(url).status_code == 404, url
    scenario = draft.scenarios.get(key="s1")
    assert (
        client.post(
            reverse("studies:scenario_edit", args=[draft.slug, scenario.pk]),
            scenario_data(draft, title="Changed"),
        ).status_code
        == 404
    )
    assert (
        client.post(reverse("studies:scenario_delete", args=[draft.slug, scenario.pk])).status_code
        == 404
    )
    response = client.post(
        reverse("studies:settings", args=[draft.slug]), settings_data(draft, title="Changed")
    )
    assert response.status_code == 404
    draft.refresh_from_db()
    assert draft.title == "Draft study"
    assert Scenario.objects.filter(pk=scenario.pk, title="Scenario s1").exists()


def test_a_collaborator_may_edit(client, bob, draft):
    make_member(draft, bob, Role.COLLABORATOR)
    client.force_login(bob)
    for url in builder_urls(draft):
        assert client.get(url).status_code == 200, url


def test_anonymous_visitors_are_sent_to_sign_in(client, draft):
    for url in [reverse("studies:study_new"), *builder_urls(draft)]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


# --- Arms ----------------------------------------------------------------------------


def arm_data(**overrides):
    data = {
        "key": "gpt",
        "kind": "llm",
        "participant_label": "AI assistant",
        "system_prompt": "Be helpful.",
        "temperature": "0.5",
        "top_p": "0.9",
        "max_tokens": "300",
        "min_turns": "1",
        "max_turns": "10",
        "weight": "2",
        "reply_timeout_s": "",
        "control_instructions": "",
        "blinding_terms": "GPT\nOpenAI\n",
    }
    data.update(overrides)
    return data


def test_a_tabs_own_page_is_aria_current_page(client, alice, draft):
    client.force_login(alice)
    html = client.get(reverse("studies:arms", args=[draft.slug])).content.decode()
    assert 'id="arms-link" aria-current="page">Arms</a>' in html
    assert 'aria-current="true"' not in html


def test_the_arm_pages_show_the_builders_tabs_with_arms_current(client, alice, draft):
    client.force_login(alice)
    arm = draft.arms.get(key="llama")
    for url in (
        reverse("studies:arm_new", args=[draft.slug]),
        reverse("studies:arm_edit", args=[draft.slug, arm.pk]),
    ):
        html = client.get(url).content.decode()
        assert '<nav class="builder-nav" aria-label="Study builder">' in html
        # A page within the tab: the tab is current, but not this page ("true").
        assert 'aria-current="page"' not in html and html.count('aria-current="true"') == 1
        assert 'id="arms-link" aria-current="true">Arms</a>' in html
        assert f'href="{reverse("studies:allocation", args=[draft.slug])}"' in html


def test_it_adds_an_llm_arm_with_an_endpoint_the_user_may_use(client, alice, draft):
    endpoint = draft.arms.get(key="llama").endpoint
    client.force_login(alice)
    url = reverse("studies:arm_new", args=[draft.slug])
    response = client.post(url, arm_data(endpoint=endpoint.pk))
    assert response.status_code == 302
    arm = draft.arms.get(key="gpt")
    assert (arm.endpoint, arm.weight, arm.blinding_terms) == (endpoint, 2, ["GPT", "OpenAI"])
    assert arm.sampling_params == {"temperature": 0.5, "top_p": 0.9, "max_tokens": 300}
    assert AuditEntry.objects.filter(object_type="studies.arm", actor=alice).exists()


def test_an_arm_shows_each_error_beside_its_field(client, alice, draft):
    other = make_endpoint(name="someone-elses")
    client.force_login(alice)
    url = reverse("studies:arm_new", args=[draft.slug])
    response = client.post(url, arm_data(key="llama", endpoint=other.pk))
    assert response.status_code == 400
    html = response.content.decode()
    # Another team's endpoint is not offered, and an LLM arm needs one.
    assert "someone-elses" not in html and 'id="id_endpoint-error"' in html
    endpoint = draft.arms.get(key="llama").endpoint
    response = client.post(url, arm_data(key="llama", endpoint=endpoint.pk))
    assert "Another arm of this study has this key." in response.content.decode()
    response = client.post(url, arm_data(endpoint=endpoint.pk, min_turns="5", max_turns="2"))
    html = response.content.decode()
    assert 'id="id_min_turns-error"' in html and "Minimum turns exceed the maximum." in html
    assert not draft.arms.filter(key="gpt").exists()


def test_the_arm_form_groups_its_fields_by_the_kind_of_arm(client, alice, draft):
    names = [name for _legend, _id, group in ArmForm.SECTIONS for name in group]
    assert sorted(names) == sorted(ArmForm.base_fields)  # each field, once
    client.force_login(alice)
    html = client.get(reverse("studies:arm_new", args=[draft.slug])).content.decode()
    llm = html.split('id="arm-llm"')[1].split("</fieldset>")[0]
    assert "LLM arms" in llm and 'name="endpoint"' in llm and 'name="system_prompt"' in llm
    control = html.split('id="arm-control"')[1].split("</fieldset>")[0]
    assert 'name="control_instructions"' in control and 'name="system_prompt"' not in control


def test_a_control_arm_named_as_an_ai_assistant_is_refused_beside_the_label(client, alice, draft):
    client.force_login(alice)
    url = reverse("studies:arm_new", args=[draft.slug])
    response = client.post(url, arm_data(key="ctl", kind="control"))
    assert response.status_code == 400
    assert (
        "shows participants no assistant"
        in response.context["form"].errors["participant_label"][0]
    )
    assert not draft.arms.filter(key="ctl").exists()
    response = client.post(url, arm_data(key="ctl", kind="control", participant_label="Search"))
    assert response.status_code == 302
    assert draft.arms.get(key="ctl").participant_label == "Search"


def test_an_allocated_arm_keeps_its_key_kind_and_weight(client, alice, draft):
    arm = draft.arms.get(key="control")
    make_participant(draft, arm=arm)
    client.force_login(alice)
    url = reverse("studies:arm_edit", args=[draft.slug, arm.pk])
    assert 'id="arm-locked"' in client.get(url).content.decode()
    response = client.post(
        url,
        arm_data(key="renamed", kind="control", weight="5", participant_label="Your own search"),
    )
    assert response.status_code == 302
    arm.refresh_from_db()
    assert (arm.key, arm.weight, arm.participant_label) == ("control", 1, "Your own search")


@pytest.mark.parametrize("role", [None, Role.BLINDED_ANALYST, Role.AUDITOR])
def test_the_arms_pages_are_404_for_others(client, bob, draft, role):
    if role is not None:
        make_member(draft, bob, role)
    client.force_login(bob)
    arm = draft.arms.get(key="llama")
    for url in (
        reverse("studies:arms", args=[draft.slug]),
        reverse("studies:arm_new", args=[draft.slug]),
        reverse("studies:arm_edit", args=[draft.slug, arm.pk]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("studies:arm_delete", args=[draft.slug, arm.pk])).status_code == 404
    assert draft.arms.filter(pk=arm.pk).exists()


def test_an_unallocated_arm_can_be_deleted(client, alice, draft):
    arm = draft.arms.get(key="control")
    client.force_login(alice)
    response = client.post(reverse("studies:arm_delete", args=[draft.slug, arm.pk]))
    assert response.status_code == 302
    assert not draft.arms.filter(pk=arm.pk).exists()
