from __future__ import annotations

import pytest

from studyapp.analysis.metrics import (
    AnswerRow,
    Proportion,
    answer_figures,
    answer_figures_by_arm,
    status_counts,
)


def row(arm_id, answer_value, gold_value, text="", gold=("migraine",)):
    return AnswerRow(
        arm_id=arm_id,
        answer_value=answer_value,
        gold_value=gold_value,
        conditions_text=text,
        gold_conditions=list(gold),
    )


def test_it_counts_exact_over_and_under_triage():
    figures = answer_figures([row(1, 3, 3), row(1, 4, 3), row(1, 0, 3), row(1, 2, 3)])
    assert figures.n_answers == 4
    assert figures.disposition == Proportion(n=4, correct=1)
    assert (figures.over_triage, figures.under_triage) == (1, 2)


def test_it_counts_answers_naming_at_least_one_gold_condition():
    figures = answer_figures(
        [row(1, 1, 1, "Migraine"), row(1, 1, 1, "tension headache"), row(1, 1, 1, "")]
    )
    assert figures.conditions == Proportion(n=3, correct=1)


def test_a_proportion_of_nothing_has_no_value():
    assert Proportion(n=0, correct=0).value is None
    assert Proportion(n=0, correct=0).as_dict() == {
        "n": 0,
        "correct": 0,
        "value": None,
        "ci_low": None,
        "ci_high": None,
    }
    assert Proportion(n=4, correct=1).as_dict() == {
        "n": 4,
        "correct": 1,
        "value": 0.25,
        "ci_low": pytest.approx(0.0456, abs=1e-4),  # Wilson 95%
        "ci_high": pytest.approx(0.6994, abs=1e-4),
    }
    assert Proportion(n=4, correct=1).percent == 25.0


def test_it_groups_figures_by_arm():
    by_arm = answer_figures_by_arm([row(1, 3, 3), row(2, 1, 3), row(2, 3, 3)])
    assert by_arm[1].disposition == Proportion(n=1, correct=1)
    assert by_arm[2].disposition == Proportion(n=2, correct=1)


def test_status_counts_keep_every_status_in_order():
    assert status_counts({"completed": 2, "other": 9}, ["started", "completed"]) == {
        "started": 0,
        "completed": 2,
    }


def test_a_stored_condition_score_counts_and_unscored_answers_are_matched_now():
    stored_wrong = AnswerRow(
        arm_id=1,
        answer_value=1,
        gold_value=1,
        conditions_text="Migraine",
        gold_conditions=["migraine"],
        conditions_correct=False,
    )
    unscored_synonym = AnswerRow(
        arm_id=1,
        answer_value=1,
        gold_value=1,
        conditions_text="a bad head",
        gold_conditions=["migraine"],
        synonyms={"migraine": ["bad head"]},
    )
    assert answer_figures([stored_wrong, unscored_synonym]).conditions == Proportion(
        n=2, correct=1
    )
