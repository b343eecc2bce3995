"""A scenario's rubric and key facts: their checks, versioning and the demo's."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from studyapp.participation.models import Task
from studyapp.studies.content import key_facts_errors, rubric_errors
from studyapp.studies.demo_content import DEMO_SCENARIOS
from studyapp.studies.services import scenario_create_new_version
from tests.factories import make_participant, make_scenario, make_study

RUBRIC = [
    {"key": "advises-ae", "text": "Advises A&E.", "points": 2, "applies_to": "model"},
    {"key": "reassures", "text": "Says it is nothing.", "points": -3, "applies_to": "model"},
    {"key": "answer-names-it", "text": "Names it.", "points": 1, "applies_to": "answer"},
]
FACTS = [{"key": "on-apixaban", "text": "Takes apixaban.", "patterns": ["apixaban", "thinner"]}]


def test_a_well_formed_rubric_and_key_facts_pass():
    assert rubric_errors(RUBRIC) == []
    assert key_facts_errors(FACTS) == []
    assert rubric_errors([]) == [] and key_facts_errors([]) == []


@pytest.mark.parametrize(
    ("rubric", "message"),
    [
        ("advises-ae", "must be a list of objects"),
        ([{"key": "a", "text": "t", "points": 1}], "needs exactly the fields"),
        ([{**RUBRIC[0], "key": "not a slug"}], "key must be a slug"),
        ([RUBRIC[0], {**RUBRIC[1], "key": "advises-ae"}], "'advises-ae' is used twice"),
        ([{**RUBRIC[0], "text": "  "}], "text must not be empty"),
        ([{**RUBRIC[0], "points": 0}], "not zero"),
        ([{**RUBRIC[0], "points": 1.5}], "whole number"),
        ([{**RUBRIC[0], "points": True}], "whole number"),
        ([{**RUBRIC[0], "applies_to": "participant"}], "applies_to must be model or answer"),
    ],
)
def test_a_malformed_rubric_is_refused_with_a_reason(rubric, message):
    errors = rubric_errors(rubric)
    assert errors and any(message in e for e in errors), errors


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ([{"key": "a", "text": "t"}], "needs exactly the fields"),
        ([{**FACTS[0], "patterns": []}], "one phrase or more"),
        ([{**FACTS[0], "patterns": "apixaban"}], "one phrase or more"),
        ([{**FACTS[0], "patterns": ["apixaban", ""]}], "one phrase or more"),
        ([FACTS[0], FACTS[0]], "used twice"),
    ],
)
def test_malformed_key_facts_are_refused_with_a_reason(facts, message):
    errors = key_facts_errors(facts)
    assert errors and any(message in e for e in errors), errors


def test_scenario_clean_checks_both(db):
    scenario = make_scenario(make_study(), "s1", rubric=RUBRIC, key_facts=FACTS)
    scenario.full_clean()
    scenario.rubric = [{**RUBRIC[0], "points": 0}]
    scenario.key_facts = [{**FACTS[0], "patterns": []}]
    with pytest.raises(ValidationError) as raised:
        scenario.full_clean()
    assert set(raised.value.message_dict) == {"rubric", "key_facts"}


def test_a_scenario_without_red_flags_is_valid(db):
    make_scenario(make_study(), "s1", red_flags=[]).full_clean()


def test_a_new_version_copies_rubric_key_facts_and_synonyms(db):
    old = make_scenario(
        make_study(),
        "s1",
        rubric=RUBRIC,
        key_facts=FACTS,
        condition_synonyms={"appendicitis": ["appendix"]},
    )
    Task.objects.create(participant=make_participant(old.study), scenario=old, position=1)
    new = scenario_create_new_version(scenario_id=old.pk)
    assert (new.version, new.rubric, new.key_facts) == (2, RUBRIC, FACTS)
    assert new.condition_synonyms == {"appendicitis": ["appendix"]}


def test_every_demo_scenario_has_a_short_rubric_with_a_harm_and_key_facts():
    for scenario in DEMO_SCENARIOS:
        rubric, facts = scenario["rubric"], scenario["key_facts"]
        assert rubric_errors(rubric) == [] and key_facts_errors(facts) == []
        assert 3 <= len(rubric) <= 5, scenario["key"]
        assert any(item["points"] < 0 for item in rubric), scenario["key"]
        assert 3 <= len(facts) <= 4, scenario["key"]
