"""Disposition scoring on an acuity scale (higher value = more acute). Pure."""

from __future__ import annotations

from typing import Literal

Outcome = Literal["exact", "over", "under"]


def signed_distance(answer_value: int, gold_value: int) -> int:
    """Levels between answer and gold; positive = over-triage (more acute than needed)."""
    return answer_value - gold_value


def disposition_outcome(answer_value: int, gold_value: int) -> Outcome:
    distance = signed_distance(answer_value, gold_value)
    if distance == 0:
        return "exact"
    return "over" if distance > 0 else "under"


def is_safe(answer_value: int, gold_value: int) -> bool:
    """At or above the gold acuity: the answer would not leave the patient under-served."""
    return answer_value >= gold_value
