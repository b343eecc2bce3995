"""Translations of a study and its scenarios: what a language lacks keeps the study from
going live, an edit of the source shows a translation as out of date, a new scenario
version takes its translations along, and the admin says all of it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from studyapp.participation.models import Task
from studyapp.studies.models import ScenarioTranslation, Study, StudyTranslation
from studyapp.studies.services import scenario_create_new_version
from studyapp.studies.translations import scenario_text, study_texts, translation_status
from tests.factories import (
    make_control_arm,
    make_participant,
    make_scenario,
    make_study,
    make_translation,
    make_user,
)


@pytest.fixture
def study(db) -> Study:
    study = make_study("bilingual", status=Study.Status.DRAFT)
    make_scenario(study, "alpha")
    make_scenario(study, "beta")
    make_control_arm(study)
    return study


def status_of(study: Study, language: str = "de"):
    return next(s for s in translation_status(study=study) if s.language == language)


def test_a_complete_translation_is_what_its_language_reads(study: Study):
    make_translation(study, "de")
    assert status_of(study).is_complete and not status_of(study).out_of_date
    texts = study_texts(study=study, language="de")
    assert texts.consent_text == "[de] You agree to take part."
    assert texts.levels(study.disposition_scale.levels.all())[0].label == "[de] Ambulance"
    english = study_texts(study=study, language="en")
    assert english.consent_text == "You agree to take part."
    alpha = study.scenarios.get(key="alpha")
    assert scenario_text(scenario=alpha, language="de").title == "[de] Scenario alpha"
    assert scenario_text(scenario=alpha, language="en").title == "Scenario alpha"


def test_a_live_study_refuses_a_language_without_its_translation(study: Study):
    study.languages = ["en", "de"]
    study.status = Study.Status.LIVE
    with pytest.raises(ValidationError) as exc:
        study.full_clean()
    message = " ".join(exc.value.message_dict["languages"])
    assert "de: the study's texts, scenario alpha v1, scenario beta v1" in message
    study.status = Study.Status.DRAFT
    study.full_clean()  # a draft may be incomplete


def test_every_missing_piece_is_named(study: Study):
    translation = make_translation(study, "de")
    make_scenario(study, "gamma")
    translation.levels.pop("ae")
    translation.arms = {}
    translation.save()
    gaps = status_of(study).gaps
    assert "scenario gamma v1" in gaps
    assert "the label of care level ae" in gaps
    assert "the label of arm control" in gaps
    assert "the instructions of control arm control" in gaps
    study.status = Study.Status.LIVE
    with pytest.raises(ValidationError):
        study.full_clean()


def test_an_edited_source_shows_its_translation_out_of_date(study: Study):
    make_translation(study, "de")
    study.consent_text = "You agree to take part, and to a follow-up call."
    study.save()
    assert status_of(study).out_of_date == ["the study's texts"]
    assert status_of(study).is_complete  # out of date is said, it does not block
    translation = study.translations.get()
    translation.record_source()
    translation.save()
    assert status_of(study).out_of_date == []


def test_a_new_scenario_version_takes_its_translations_along(study: Study):
    make_translation(study, "de")
    alpha = study.scenarios.get(key="alpha")
    copy = scenario_create_new_version(scenario_id=alpha.pk)
    assert copy.translations.get().title == "[de] Scenario alpha"
    assert alpha.translations.count() == 1  # the old version keeps its own
    assert status_of(study).out_of_date == []
    copy.sections = [{"heading": "Your situation", "text": "Something else."}, *copy.sections[1:]]
    copy.save()
    assert status_of(study).out_of_date == ["scenario alpha v2"]


def test_a_translation_must_match_the_scenarios_sections(study: Study):
    alpha = study.scenarios.get(key="alpha")
    translation = ScenarioTranslation(
        scenario=alpha,
        language="de",
        method="machine",
        translated_by="A service",
        title="Alpha",
        sections=[{"heading": "", "text": "Nur einer."}],
    )
    with pytest.raises(ValidationError) as exc:
        translation.full_clean()
    assert "has 2 sections" in exc.value.message_dict["sections"][0]


def test_the_source_language_is_not_translated(study: Study):
    translation = StudyTranslation(
        study=study,
        language="en",
        method="professional",
        translated_by="x",
        public_title="t",
        consent_text="c",
        instructions_text="i",
        disposition_question="d",
        conditions_question="q",
    )
    with pytest.raises(ValidationError) as exc:
        translation.full_clean()
    assert "language" in exc.value.message_dict


def test_the_admin_shows_each_languages_state_and_records_the_source(study: Study):
    admin = make_user("admin", superuser=True)
    client = Client()
    client.force_login(admin)
    study.languages = ["en", "de"]
    study.save()
    page = client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert "de: lacks the study&#x27;s texts, scenario alpha v1, scenario beta v1" in page
    make_translation(study, "de")
    study.consent_text = "Edited after the translation."
    study.save()
    page = client.get(f"/admin/studies/study/{study.pk}/change/").content.decode()
    assert "de: complete; made before the source&#x27;s last edit: the study&#x27;s texts" in page


def test_a_used_scenarios_translations_are_frozen_in_the_admin(study: Study):
    admin = make_user("admin", superuser=True)
    client = Client()
    client.force_login(admin)
    make_translation(study, "de")
    alpha = study.scenarios.get(key="alpha")
    url = f"/admin/studies/scenario/{alpha.pk}/change/"
    assert 'name="translations-0-title"' in client.get(url).content.decode()
    participant = make_participant(study)
    Task.objects.create(participant=participant, scenario=alpha, position=1)
    page = client.get(url).content.decode()
    assert 'name="translations-0-title"' not in page
    assert "[de] Scenario alpha" in page  # still shown, read-only
