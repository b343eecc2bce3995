"""The builder's translation pages (studies.views_translations, studies.
builder_translations): a study's texts in another of its languages, each source text
above its field, on the study's history and audit trail, complete while the study is out
of draft, and what a participant in that language then reads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.participation.models import Participant
from studyapp.studies.builder_translations import page_digest
from studyapp.studies.launch import design_problems
from studyapp.studies.models import Study, StudyTranslation
from studyapp.studies.roles import Role
from tests.factories import (
    make_control_arm,
    make_member,
    make_scenario,
    make_study,
    make_translation,
)
from tests.participation.conftest import enter

SCREENING = [
    {"value": "uk", "label": "I live in the UK", "eligible": True},
    {"value": "other", "label": "I live elsewhere", "eligible": False},
]


@pytest.fixture
def draft(alice) -> Study:
    study = make_study(
        "bilingual",
        status=Study.Status.DRAFT,
        languages=["en", "de"],
        screening_question="Where do you live?",
        screening_options=SCREENING,
        check_question="Which colour is the sky on a clear day?",
        check_options=["Blue", "Purple"],
        check_answer="Blue",
    )
    make_member(study, alice)
    make_control_arm(study, key="own", participant_label="Your own sources")
    make_scenario(study, "s1")
    make_scenario(study, "s2")
    return study


def url(study: Study, language: str = "de") -> str:
    return reverse("studies:translation", args=[study.slug, language])


def form_data(study: Study, **overrides) -> dict:
    data = {
        "method": "professional",
        "translated_by": "Übersetzungen GmbH",
        "reviewed_by": "",
        "translated_on": "2026-11-01",
        "notes": "",
        "public_title": "Gesundheitsstudie",
        "consent_text": "Sie stimmen der Teilnahme zu.",
        "instructions_text": "Lesen Sie jedes Szenario.",
        "disposition_question": "Welche Versorgung brauchen Sie?",
        "conditions_question": "Warum?",
        "screening_question": "Wo wohnen Sie?",
        "screening_label_0": "Ich wohne im Vereinigten Königreich",
        "screening_label_1": "Ich wohne anderswo",
        "check_question": "Welche Farbe hat der Himmel an einem klaren Tag?",
        "check_label_0": "Blau",
        "check_label_1": "Lila",
    }
    for i, level in enumerate(study.disposition_scale.levels.all()):
        data[f"level_{i}_label"] = f"[de] {level.label}"
        if level.description:
            data[f"level_{i}_description"] = f"[de] {level.description}"
    for i, arm in enumerate(study.arms.order_by("key")):
        data[f"arm_{i}_label"] = f"[de] {arm.participant_label}"
        if not arm.is_llm and arm.control_instructions:
            data[f"arm_{i}_instructions"] = f"[de] {arm.control_instructions}"
    data["source"] = page_digest(study)  # the page's, as the browser posts it
    data.update(overrides)
    return data


def post(client, study, language="de", **overrides):
    return client.post(url(study, language), form_data(study, **overrides))


def test_each_source_text_is_shown_above_its_field(client, alice, draft):
    client.force_login(alice)
    response = client.get(url(draft))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Deutsch translation" in html and "status-closed" in html  # missing
    for field_id, source in [
        ("id_screening_question", "Where do you live?"),
        ("id_screening_label_1", "I live elsewhere"),
        ("id_check_question", "Which colour is the sky on a clear day?"),
        ("id_check_label_1", "Purple"),
        ("id_arm_0_label", "Your own sources"),
    ]:
        source_at = html.index(f'id="{field_id}-source"')
        assert source in html[source_at : source_at + 300], field_id
        assert source_at < html.index(f'id="{field_id}"'), field_id
    assert 'name="method"' in html and 'name="reviewed_by"' in html


def test_it_saves_the_translation_on_the_history_and_audit_trail(client, alice, draft):
    client.force_login(alice)
    assert post(client, draft).status_code == 302
    translation = StudyTranslation.objects.get(study=draft, language="de")
    assert translation.screening_labels == {
        "uk": "Ich wohne im Vereinigten Königreich",
        "other": "Ich wohne anderswo",
    }
    assert translation.check_labels == {"Blue": "Blau", "Purple": "Lila"}
    assert translation.is_current and translation.translated_by == "Übersetzungen GmbH"
    created = AuditEntry.objects.get(study_id=draft.pk, object_type="studies.studytranslation")
    assert created.action == "create" and created.actor == alice
    assert post(client, draft, check_label_1="Violett", reviewed_by="B. Berg").status_code == 302
    changed = AuditEntry.objects.filter(
        study_id=draft.pk, object_type="studies.studytranslation", action="change"
    ).get()
    assert changed.actor == alice
    assert changed.before["check_labels"]["Purple"] == "Lila"
    assert changed.after["check_labels"]["Purple"] == "Violett"
    assert changed.after["reviewed_by"] == "B. Berg"
    assert translation.history.count() == 2
    html = client.get(url(draft)).content.decode()
    assert "status-live" in html and 'value="Violett"' in html


def test_a_mistake_is_shown_beside_its_field_and_nothing_is_saved(client, alice, draft):
    client.force_login(alice)
    response = post(client, draft, consent_text="", translated_by="")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_consent_text-error"' in html and 'id="id_translated_by-error"' in html
    assert not StudyTranslation.objects.exists()
    assert not AuditEntry.objects.filter(object_type="studies.studytranslation").exists()


def test_a_draft_may_leave_gaps_a_study_out_of_draft_may_not(client, alice, draft):
    client.force_login(alice)
    assert post(client, draft, check_label_1="").status_code == 302
    html = client.get(url(draft)).content.decode()
    assert "incomplete: 1 missing" in html and "the label of check option" in html
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.PAUSED)
    response = post(client, draft, check_label_0="", check_label_1="Lila")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_check_label_0-error"' in html and "needs it translated" in html
    translation = StudyTranslation.objects.get()
    assert translation.check_labels == {"Blue": "Blau"}
    # Corrections (a text filled, a wording changed) go through while it runs.
    assert post(client, draft, screening_question="Wo leben Sie?").status_code == 302
    translation.refresh_from_db()
    assert translation.screening_question == "Wo leben Sie?"
    assert translation.check_labels == {"Blue": "Blau", "Purple": "Lila"}


def test_an_edited_source_shows_the_translation_out_of_date(client, alice, draft):
    client.force_login(alice)
    assert post(client, draft).status_code == 302
    Study.objects.filter(pk=draft.pk).update(screening_question="Where do you live now?")
    html = client.get(url(draft)).content.decode()
    assert "out of date" in html and "Where do you live now?" in html
    html = client.get(reverse("studies:translations", args=[draft.slug])).content.decode()
    assert "Out of date (the source changed since): the study" in html and url(draft) in html


def test_a_language_the_study_does_not_translate_is_404(client, alice, draft):
    client.force_login(alice)
    assert client.get(url(draft, "en")).status_code == 404  # its source language
    assert client.get(url(draft, "fr")).status_code == 404
    assert post(client, draft, language="en").status_code == 404
    assert not StudyTranslation.objects.exists()


@pytest.mark.parametrize("role", [None, Role.ANALYST, Role.BLINDED_ANALYST, Role.AUDITOR])
def test_others_get_404_and_change_nothing(client, bob, draft, role):
    if role is not None:
        make_member(draft, bob, role)
    client.force_login(bob)
    assert client.get(url(draft)).status_code == 404
    assert client.get(reverse("studies:translations", args=[draft.slug])).status_code == 404
    assert post(client, draft).status_code == 404
    assert not StudyTranslation.objects.exists()


def test_anonymous_visitors_sign_in(client, draft):
    response = client.get(url(draft))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_launch_checklist_sends_a_missing_translation_to_this_page(alice, draft):
    problems = design_problems(study=draft, arms=list(draft.arms.all()))
    translation = [p for p in problems if p.code == "translations"]
    assert len(translation) == 1 and translation[0].url == url(draft)
    assert "admin" not in translation[0].url


def test_a_german_participant_reads_the_screening_and_check_saved_here(client, alice, draft):
    make_translation(draft)  # the scenarios' translations, still the admin's
    StudyTranslation.objects.filter(study=draft).delete()  # the study's: from the page
    client.force_login(alice)
    assert post(client, draft).status_code == 302
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.LIVE)
    client.logout()
    flow = enter(client, draft, lang="de")
    assert flow.participant.language == "de"
    flow.post("consent", {"agree": "1"})
    screening = flow.home().content.decode()
    assert "Wo wohnen Sie?" in screening and "Where do you live?" not in screening
    assert "Ich wohne anderswo" in screening
    flow.post("screening", {"answer": "uk"})
    flow.post("instructions")
    check = flow.home().content.decode()
    assert "Welche Farbe hat der Himmel an einem klaren Tag?" in check
    assert "<span>Lila</span>" in check and "<span>Purple</span>" not in check
    flow.post("check", {"answer": "Blue"})
    assert flow.refresh().status != Participant.Status.FAILED_CHECK


def test_a_save_from_a_page_opened_before_the_source_changed_is_refused(client, alice, draft):
    client.force_login(alice)
    html = client.get(url(draft)).content.decode()
    made_from = html.split('name="source" value="', 1)[1].split('"', 1)[0]
    # Meanwhile the screening options are swapped: label 0 would now name "other".
    Study.objects.filter(pk=draft.pk).update(screening_options=SCREENING[::-1])
    response = post(client, draft, source=made_from)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="translation-errors"' in html and "Nothing was saved" in html
    assert not StudyTranslation.objects.exists()
    # The page that says so is made from the source as it is now: saving it goes through.
    fresh = html.split('name="source" value="', 1)[1].split('"', 1)[0]
    assert fresh != made_from
    assert post(client, draft, source=fresh).status_code == 302


def test_a_save_without_the_pages_digest_is_refused_not_saved_unchecked(client, alice, draft):
    client.force_login(alice)
    data = form_data(draft)
    del data["source"]  # a page from before the digest, or a hand-made request
    response = client.post(url(draft), data)
    assert response.status_code == 400
    assert "Nothing was saved" in response.content.decode()
    assert not StudyTranslation.objects.exists()
