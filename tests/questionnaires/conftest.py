"""A control-arm study with a questionnaire at each placement."""

from __future__ import annotations

import pytest

from studyapp.questionnaires.models import Placement
from studyapp.questionnaires.services import item_create, questionnaire_create
from studyapp.studies.models import Study
from tests.factories import (
    make_control_arm,
    make_member,
    make_scenario,
    make_study,
    make_user,
)

YES_NO = [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}]


def add_baseline(study: Study):
    q = questionnaire_create(
        study=study, key="baseline", title="About you", placement=Placement.AFTER_CONSENT
    )
    uses = item_create(
        questionnaire_id=q.pk,
        data={
            "key": "uses_llm",
            "kind": "single",
            "text": "Do you use chatbots?",
            "options": YES_NO,
        },
    )
    item_create(
        questionnaire_id=q.pk,
        data={
            "key": "how_often",
            "kind": "likert",
            "text": "How often?",
            "scale_points": 5,
            "anchor_low": "Rarely",
            "anchor_high": "Daily",
            "condition_item": uses,
            "condition_values": ["yes"],
        },
    )
    item_create(
        questionnaire_id=q.pk,
        data={
            "key": "age",
            "kind": "number",
            "text": "Your age",
            "min_value": 18,
            "max_value": 99,
        },
    )
    return q


def add_per_scenario(study: Study):
    q = questionnaire_create(
        study=study, key="trust", title="This scenario", placement=Placement.AFTER_EACH_SCENARIO
    )
    item_create(
        questionnaire_id=q.pk,
        data={"key": "trust", "kind": "likert", "text": "Trust", "scale_points": 7},
    )
    return q


def add_end(study: Study):
    q = questionnaire_create(
        study=study, key="exit", title="Last questions", placement=Placement.END
    )
    item_create(
        questionnaire_id=q.pk,
        data={
            "key": "sources",
            "kind": "multiple",
            "text": "Sources",
            "required": False,
            "options": [{"value": "web", "label": "Web"}, {"value": "gp", "label": "A doctor"}],
        },
    )
    item_create(
        questionnaire_id=q.pk,
        data={"key": "comments", "kind": "text", "text": "Comments?", "required": False},
    )
    return q


@pytest.fixture
def control_study(db) -> Study:
    """As tests.participation's: three scenarios, two each, one control arm."""
    study = make_study("control-study", completion_code="DONE1234")
    for key in ("alpha", "beta", "gamma"):
        make_scenario(study, key)
    make_control_arm(study, participant_label="Your own sources")
    return study


@pytest.fixture
def q_study(control_study: Study) -> Study:
    add_baseline(control_study)
    add_per_scenario(control_study)
    add_end(control_study)
    return control_study


@pytest.fixture
def alice(control_study: Study):
    """Owns the study."""
    user = make_user("alice")
    make_member(control_study, user)
    return user


@pytest.fixture
def charlie(db):
    """A member of no study."""
    return make_user("charlie")
