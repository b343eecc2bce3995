"""Small factories and the fixed cast (alice and bob investigate, charlie does not)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from studyapp.participation.models import Participant
from studyapp.studies.members import membership_grant
from studyapp.studies.models import (
    Arm,
    ModelEndpoint,
    Scenario,
    ScenarioTranslation,
    Study,
    StudyTranslation,
    TranslationMethod,
)
from studyapp.studies.services import disposition_scale_get_or_create_default


def make_user(username: str, *, superuser: bool = False, password: str = "password-for-tests"):
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(username=username, password=password)
    return User.objects.create_user(username=username, password=password)


def make_study(slug: str = "study", *, status: str = Study.Status.LIVE, **kwargs) -> Study:
    scale = disposition_scale_get_or_create_default()
    defaults = {
        "title": f"Study {slug}",
        "disposition_scale": scale,
        "consent_text": "You agree to take part.",
        "instructions_text": "Read each scenario and answer the questions.",
        "scenarios_per_participant": 2,
        "completion_code": "CODE1234",
    }
    defaults.update(kwargs)
    return Study.objects.create(slug=slug, status=status, **defaults)


def make_scenario(study: Study, key: str, *, level_code: str = "ae", **kwargs) -> Scenario:
    level = study.disposition_scale.levels.get(code=level_code)
    defaults = {
        "title": f"Scenario {key}",
        "sections": [
            {"heading": "Your situation", "text": f"You are playing the part of someone ({key})."},
            {"heading": "Medical history", "text": "No known allergies."},
        ],
        "gold_disposition": level,
        "gold_conditions": ["appendicitis", "ovarian torsion"],
        "red_flags": ["fever"],
    }
    defaults.update(kwargs)
    return Scenario.objects.create(study=study, key=key, **defaults)


def make_endpoint(base_url: str = "http://127.0.0.1:9/v1", **kwargs) -> ModelEndpoint:
    defaults = {
        "name": f"endpoint-{ModelEndpoint.objects.count() + 1}",
        "model": "scripted-demo",
        "is_scripted": True,
        "timeout_s": 10.0,
    }
    defaults.update(kwargs)
    return ModelEndpoint.objects.create(base_url=base_url, **defaults)


def make_llm_arm(study: Study, endpoint: ModelEndpoint, key: str = "llm", **kwargs) -> Arm:
    defaults = {"system_prompt": "You are a helpful assistant.", "min_turns": 1, "max_turns": 10}
    defaults.update(kwargs)
    return Arm.objects.create(
        study=study, key=key, kind=Arm.Kind.LLM, endpoint=endpoint, **defaults
    )


def make_control_arm(study: Study, key: str = "control", **kwargs) -> Arm:
    return Arm.objects.create(study=study, key=key, kind=Arm.Kind.CONTROL, **kwargs)


def make_participant(study: Study, **kwargs) -> Participant:
    return Participant.objects.create(study=study, **kwargs)


def shared_data_dir():
    """../shared/data (or $STUDYAPP_SHARED_DATA): published study files tests may read.

    Never copied into the repository; tests that need it call `require(path.exists(), ...)`.
    """
    import os
    from pathlib import Path

    default = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return Path(os.environ.get("STUDYAPP_SHARED_DATA") or default)


def make_translation(study: Study, language: str = "de") -> StudyTranslation:
    """A complete translation of the study's texts and active scenarios, each text marked
    "[de] ..." so a test can tell it from the source; adds the language to the study."""
    levels = {
        level.code: {"label": f"[{language}] {level.label}", "description": ""}
        for level in study.disposition_scale.levels.all()
    }
    arms = {
        arm.key: {
            "participant_label": f"[{language}] {arm.participant_label}",
            "control_instructions": f"[{language}] {arm.control_instructions}",
        }
        for arm in study.arms.all()
    }
    translation = StudyTranslation(
        study=study,
        language=language,
        method=TranslationMethod.PROFESSIONAL,
        translated_by="Test translations Ltd",
        public_title=f"[{language}] {study.public_title}",
        consent_text=f"[{language}] {study.consent_text}",
        instructions_text=f"[{language}] {study.instructions_text}",
        disposition_question=f"[{language}] {study.disposition_question}",
        conditions_question=f"[{language}] {study.conditions_question}",
        screening_question=f"[{language}] {study.screening_question}"
        if study.has_screening
        else "",
        screening_labels={
            o["value"]: f"[{language}] {o['label']}" for o in study.screening_options
        },
        check_question=f"[{language}] {study.check_question}" if study.has_check else "",
        check_labels={o: f"[{language}] {o}" for o in study.check_options},
        levels=levels,
        arms=arms,
    )
    translation.full_clean()
    translation.save()
    for scenario in study.scenarios.active():
        ScenarioTranslation.objects.create(
            scenario=scenario,
            language=language,
            method=TranslationMethod.PROFESSIONAL,
            translated_by="Test translations Ltd",
            title=f"[{language}] {scenario.title}",
            sections=[
                {"heading": f"[{language}] {s['heading']}", "text": f"[{language}] {s['text']}"}
                for s in scenario.sections
            ],
        )
    if language not in study.languages:
        study.languages = [*study.languages, language]
        study.full_clean()
        study.save(update_fields=["languages", "updated_at"])
    return translation


def make_member(study: Study, user, role: str = "owner", *, granted_by=None):
    """Give `user` a role in the study (studies.roles; default owner, the rights
    investigators had before roles)."""
    return membership_grant(study=study, user=user, role=role, granted_by=granted_by)
