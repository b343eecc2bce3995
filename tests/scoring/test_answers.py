from __future__ import annotations

from studyapp.scoring.answers import score_answer
from studyapp.scoring.conditions import SCORER_VERSION


def test_it_scores_conditions_red_flags_and_disposition_together():
    score = score_answer(
        conditions_text="1) A&E\n2) Meningitis or a migraine",
        answer_value=3,
        gold_value=4,
        gold_conditions=["migraine", "meningitis", "A&E nurse"],
        red_flags=["meningitis"],
        two_part=True,
    )
    assert score.matched_conditions == ["migraine", "meningitis"]
    assert score.matched_red_flags == ["meningitis"]
    assert score.conditions_correct is True
    assert (score.disposition_outcome, score.disposition_distance) == ("under", -1)
    assert score.scorer_version == SCORER_VERSION


def test_without_a_disposition_only_conditions_are_scored():
    score = score_answer(
        conditions_text="no idea", answer_value=None, gold_value=2, gold_conditions=["gout"]
    )
    assert (score.conditions_correct, score.disposition_outcome) == (False, None)
    assert score.disposition_distance is None
