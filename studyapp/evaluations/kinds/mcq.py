"""MCQ accuracy: each question once, "Final Answer: (X)" parsed and compared with the key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from studyapp.evaluations.kinds.robustness import plan_baselines, run_unit, score, unit_key
from studyapp.evaluations.mcq_items import McqQuestion
from studyapp.evaluations.models import EvaluationItem, EvaluationRun

__all__ = ["plan", "run_unit", "score", "unit_key"]


def plan(
    *, run: EvaluationRun, config: dict[str, Any], inputs: Sequence[McqQuestion]
) -> list[EvaluationItem]:
    return plan_baselines(
        run=run, questions=inputs, instruction=config["templates"]["instruction"]
    )
