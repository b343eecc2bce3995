"""An arm's blinding terms once participants entered (studies.builder_blinding's
arm_terms_check, applied by studies.builder.arm_save for the arm page and the API, and by
the admin's arm form): terms may be added, or their case and spacing corrected, never
removed, as the blinding page's guard is tightened but never loosened."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from studyapp.studies.builder_blinding import terms_removed
from studyapp.studies.design_files import design_export, design_import
from studyapp.studies.models import Arm, Study
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)

RULE = "terms may be added, or their spelling corrected, but none removed"


@pytest.fixture
def draft(alice) -> Study:
    study = make_study("guarded", status=Study.Status.DRAFT, title="Guarded study")
    make_member(study, alice)
    make_llm_arm(study, make_endpoint(), key="llama", blinding_terms=["Llama", "Meta AI"])
    make_scenario(study, "s1")
    make_scenario(study, "s2")
    return study


def arm_of(study: Study) -> Arm:
    return study.arms.get(key="llama")


def url(study: Study) -> str:
    return reverse("studies:arm_edit", args=[study.slug, arm_of(study).pk])


def post(client, study: Study, terms: str, **overrides):
    arm = arm_of(study)
    data = {
        "key": arm.key,
        "kind": arm.kind,
        "participant_label": arm.participant_label,
        "endpoint": arm.endpoint_id,
        "system_prompt": arm.system_prompt,
        "temperature": "0.8",
        "min_turns": arm.min_turns,
        "max_turns": arm.max_turns,
        "weight": arm.weight,
        "blinding_terms": terms,
        **overrides,
    }
    return client.post(url(study), data)


def test_a_term_counts_as_kept_in_any_case_and_spacing():
    assert terms_removed(old=["Llama", "Meta AI"], new=["llama", " meta   ai "]) == []
    assert terms_removed(old=["Llama", "Meta AI"], new=["Llama 3", "Meta AI", "Zuck"]) == ["Llama"]
    assert terms_removed(old=[], new=[]) == []


def test_a_draft_nobody_entered_may_remove_terms(client, alice, draft):
    client.force_login(alice)
    assert RULE not in client.get(url(draft)).content.decode()
    assert post(client, draft, "Llama").status_code == 302
    assert arm_of(draft).blinding_terms == ["Llama"]


def test_once_participants_entered_terms_are_added_but_never_removed(client, alice, draft):
    make_participant(draft)
    client.force_login(alice)
    html = client.get(url(draft)).content.decode()
    # The rule is said beside the field, in the LLM arms' section.
    llm_section = html.split('id="arm-llm"')[1].split("</fieldset>")[0]
    assert RULE in llm_section.split('name="blinding_terms"')[1]
    response = post(client, draft, "Llama", system_prompt="A new prompt.")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_blinding_terms-error"' in html
    assert "“Meta AI”" in html and "never removed" in html
    arm = arm_of(draft)
    assert (arm.blinding_terms, arm.system_prompt) == (
        ["Llama", "Meta AI"],
        "You are a helpful assistant.",
    )
    # Spelling corrected and a term added: the guard hides at least what it hid.
    assert post(client, draft, "llama\nMeta  AI\nLlama 3").status_code == 302
    assert arm_of(draft).blinding_terms == ["llama", "Meta  AI", "Llama 3"]


def test_a_live_study_nobody_entered_yet_keeps_its_terms_too(client, alice, draft):
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.LIVE)
    client.force_login(alice)
    assert post(client, draft, "").status_code == 400
    assert arm_of(draft).blinding_terms == ["Llama", "Meta AI"]


def _admin_data(response) -> dict:
    form = response.context["adminform"].form
    values = {name: form[name].value() for name in form.fields}
    return {name: "" if value is None else value for name, value in values.items()}


def test_the_admin_refuses_a_removed_term_once_participants_entered(client, draft):
    root = make_user("root", superuser=True)
    make_participant(draft)
    client.force_login(root)
    change = reverse("admin:studies_arm_change", args=[arm_of(draft).pk])
    data = _admin_data(client.get(change))
    response = client.post(change, {**data, "blinding_terms": '["Llama"]'})
    assert response.status_code == 200
    assert "never removed" in response.content.decode()
    assert arm_of(draft).blinding_terms == ["Llama", "Meta AI"]
    response = client.post(change, {**data, "blinding_terms": '["Llama", "Meta AI", "Meta"]'})
    assert response.status_code == 302
    assert arm_of(draft).blinding_terms == ["Llama", "Meta AI", "Meta"]


def test_a_design_file_makes_a_new_draft_and_leaves_a_running_study_s_arms(alice, draft):
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.LIVE)
    data = design_export(draft)
    data["arms"][0]["blinding_terms"] = []
    copy = design_import(data, slug="guarded-copy", user=alice)
    assert copy.status == Study.Status.DRAFT and copy.pk != draft.pk
    assert copy.arms.get(key="llama").blinding_terms == []
    assert arm_of(draft).blinding_terms == ["Llama", "Meta AI"]


def test_a_term_the_replacement_words_say_is_refused_on_a_new_arm_and_an_old_one(
    client, alice, draft
):
    from studyapp.studies.builder import arm_save

    client.force_login(alice)
    Study.objects.filter(pk=draft.pk).update(blinding_replacement="the assistant")
    response = post(client, draft, "Llama\nMeta AI\nAssistant")
    assert response.status_code == 400
    assert "replacement words" in response.content.decode()
    assert arm_of(draft).blinding_terms == ["Llama", "Meta AI"]
    draft.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        arm_save(
            study=draft,
            arm_id=None,
            values={
                "key": "other",
                "kind": Arm.Kind.LLM,
                "endpoint": arm_of(draft).endpoint,
                "participant_label": "AI assistant",
                "blinding_terms": ["assistant"],
            },
        )
    assert "blinding_terms" in refused.value.message_dict
    assert not draft.arms.filter(key="other").exists()


def test_an_llm_arm_may_leave_every_sampling_value_to_the_server(client, alice, draft):
    client.force_login(alice)
    response = post(client, draft, "Llama\nMeta AI", temperature="", top_p="", max_tokens="")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert arm_of(draft).sampling_params == {}


def test_the_admin_cannot_loosen_a_running_studys_guard_either(client, draft):
    root = make_user("root", superuser=True)
    client.force_login(root)
    Study.objects.filter(pk=draft.pk).update(
        status=Study.Status.LIVE, blinding_action=Study.BlindingAction.REPLACE
    )
    draft.refresh_from_db()
    make_participant(draft)
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    admin = site._registry[Study]
    request = RequestFactory().post("/")
    request.user = root
    form_class = admin.get_form(request, draft)
    fields = dict(form_class(instance=draft).initial)
    form = form_class(
        data={**fields, "blinding_action": Study.BlindingAction.FLAG}, instance=draft
    )
    form.is_valid()
    assert "never loosened" in " ".join(form.errors.get("blinding_action", []))
