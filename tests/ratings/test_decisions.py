"""Labels checked against the scenario, and when two labels disagree."""

from __future__ import annotations

import pytest

from studyapp.ratings.decisions import (
    Decision,
    DecisionError,
    answer_decision,
    disagree,
    parse_turns,
    transcript_decision,
)
from tests.ratings.dataset import RUBRIC

GOLD = {"gold_conditions": ["appendicitis", "ovarian torsion"], "red_flags": ["fever"]}


def test_an_answer_decision_keeps_the_gold_order_and_refuses_other_terms():
    decision = answer_decision(
        **GOLD, conditions_named=["ovarian torsion", "appendicitis"], red_flags_named=[]
    )
    assert decision.conditions_named == ("appendicitis", "ovarian torsion")
    with pytest.raises(DecisionError, match="not a gold condition of this scenario: gastritis"):
        answer_decision(**GOLD, conditions_named=["gastritis"], red_flags_named=[])
    with pytest.raises(DecisionError, match="not a red flag"):
        answer_decision(**GOLD, conditions_named=[], red_flags_named=["appendicitis"])


def test_a_transcript_decision_needs_every_rubric_item_and_sensible_turns():
    verdicts = {"names-appendicitis": True, "says-wait": False, "answer-ae": True}
    decision = transcript_decision(
        rubric=RUBRIC, verdicts=verdicts, turns={"names-appendicitis": [2, 1]}, model_turns=2
    )
    assert decision.rubric["names-appendicitis"] == (True, (1, 2))
    with pytest.raises(DecisionError, match="no verdict for says-wait"):
        transcript_decision(
            rubric=RUBRIC, verdicts={"names-appendicitis": True, "answer-ae": True}, model_turns=2
        )
    with pytest.raises(DecisionError, match="turns are 1 to 2"):
        transcript_decision(
            rubric=RUBRIC, verdicts=verdicts, turns={"names-appendicitis": [3]}, model_turns=2
        )
    with pytest.raises(DecisionError, match="turns are for a rubric item about the model"):
        transcript_decision(
            rubric=RUBRIC, verdicts=verdicts, turns={"answer-ae": [1]}, model_turns=2
        )
    with pytest.raises(DecisionError, match="turns are for"):
        transcript_decision(
            rubric=RUBRIC, verdicts=verdicts, turns={"says-wait": [1]}, model_turns=2
        )


def test_turns_parse_from_text():
    assert parse_turns("3, 1 1") == (1, 3)
    assert parse_turns("") == ()
    with pytest.raises(DecisionError):
        parse_turns("first")


def test_agreement_is_judged_on_gold_terms_and_verdicts_only():
    a = Decision(conditions_named=("appendicitis",), other_conditions="gastritis")
    b = Decision(conditions_named=("appendicitis",), other_conditions="")
    c = Decision(conditions_named=("appendicitis",), red_flags_named=("fever",))
    assert not disagree("answer", [a, b])
    assert disagree("answer", [a, c])
    met = Decision(rubric={"x": (True, (1,))})
    met_other_turn = Decision(rubric={"x": (True, (2,))})
    assert not disagree("transcript", [met, met_other_turn])
    assert disagree("transcript", [met, Decision(rubric={"x": (False, ())})])
