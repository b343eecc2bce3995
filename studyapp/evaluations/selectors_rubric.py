"""Reads of rubric runs: their stored verdicts, and the scores they add up to."""

from __future__ import annotations

from typing import Any

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.science import rubric as science


def graded_items(*, run: EvaluationRun) -> list[science.GradedItem]:
    """Every item of a rubric run as the summary reads it (one query): met is None for an
    item not graded (failed, or still pending)."""
    rows = run.items.order_by("pk").values_list("status", "repetition", "parsed")
    items = []
    for status, repetition, parsed in rows:
        target, rubric = parsed.get("target") or {}, parsed.get("rubric") or {}
        graded = status == EvaluationItem.Status.SUCCEEDED and "met" in parsed
        items.append(
            science.GradedItem(
                target=target.get("key", ""),
                source=target.get("source", ""),
                arm=target.get("arm"),
                run=target.get("run"),
                scenario=target.get("scenario", ""),
                repetition=repetition,
                key=rubric.get("key", ""),
                points=int(rubric.get("points", 0)),
                applies_to=rubric.get("applies_to", ""),
                met=bool(parsed["met"]) if graded else None,
            )
        )
    return items


def rubric_summary(*, run: EvaluationRun) -> dict[str, Any]:
    """Scores per source and arm, and per scenario, and each rubric item's met rate, with the
    grader and its template's version (the bootstrap is seeded with the run's seed)."""
    config = run.config
    summary = science.summarize(graded_items(run=run), seed=int(config.get("seed") or 0))
    return summary | {
        "grader_endpoint": config.get("grader_endpoint"),
        "grader_model": run.model_label,
        "template_version": (config.get("grader_template") or {}).get("version"),
        "repetitions": config.get("repetitions", 1),
    }
