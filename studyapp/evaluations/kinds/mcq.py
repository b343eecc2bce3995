"""MCQ accuracy: each question once, "Final Answer: (X)" parsed and compared with the key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Count, Q

from studyapp.evaluations.kinds.robustness import QuestionKind, plan_baselines
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.science.mcq_items import McqQuestion


class McqKind(QuestionKind):
    name = "mcq"
    label = "MCQ accuracy"

    def plan(
        self, *, run: EvaluationRun, config: dict[str, Any], inputs: Sequence[McqQuestion]
    ) -> list[EvaluationItem]:
        return plan_baselines(
            run=run, questions=inputs, instruction=config["templates"]["instruction"]
        )

    def summarize(self, run: EvaluationRun) -> dict[str, Any]:
        counts = run.items.filter(status=EvaluationItem.Status.SUCCEEDED).aggregate(
            n=Count("pk"),
            correct=Count("pk", filter=Q(correct=True)),
            unparsed=Count("pk", filter=Q(parsed__answer=None)),
        )
        n = counts["n"]
        return {
            "accuracy": round(counts["correct"] / n, 4) if n else None,
            "answered": n,
            "unparsed": counts["unparsed"],
        }
