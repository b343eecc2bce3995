"""All the scores of one answer (a participant's or a model's) against a scenario. Pure.

Participation stores these on Answer when it arrives; evaluations on EvaluationItem.
Both call this one function so that humans and models are scored by the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from studyapp.scoring.conditions import SCORER_VERSION, matched_conditions
from studyapp.scoring.dispositions import disposition_outcome, signed_distance


@dataclass(frozen=True)
class AnswerScore:
    matched_conditions: list[str]
    matched_red_flags: list[str]
    conditions_correct: bool
    # None when there is no disposition to score (a conditions-only model answer).
    disposition_outcome: str | None
    disposition_distance: int | None
    scorer_version: str = SCORER_VERSION


def score_answer(
    *,
    conditions_text: str,
    answer_value: int | None,
    gold_value: int | None,
    gold_conditions: Sequence[str],
    red_flags: Sequence[str] = (),
    synonyms: Mapping[str, Sequence[str]] | None = None,
    two_part: bool = False,
) -> AnswerScore:
    """HELPMed's criteria: conditions correct when at least one gold condition is named."""
    matched = matched_conditions(
        conditions_text, gold_conditions, synonyms=synonyms, two_part=two_part
    )
    flags = matched_conditions(conditions_text, red_flags, synonyms=synonyms, two_part=two_part)
    if answer_value is None or gold_value is None:
        outcome = distance = None
    else:
        outcome = disposition_outcome(answer_value, gold_value)
        distance = signed_distance(answer_value, gold_value)
    return AnswerScore(
        matched_conditions=matched,
        matched_red_flags=flags,
        conditions_correct=bool(matched),
        disposition_outcome=outcome,
        disposition_distance=distance,
    )
