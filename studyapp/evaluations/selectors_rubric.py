"""Reads of rubric runs: their stored verdicts, and the scores they add up to."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
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


def rubric_score_records(*, study) -> Iterator[dict[str, Any]]:
    """One record per rubric run, target and repetition of the study (the rubric_scores
    export), streamed: a run's items come in unit order, so each target's repetition is
    a contiguous group. `score` is None when an item was not graded (failed or pending)
    or no item has positive points."""
    runs = {
        run.pk: run
        for run in EvaluationRun.objects.filter(study=study, kind=EvaluationRun.Kind.RUBRIC)
    }
    rows = (
        EvaluationItem.objects.filter(run_id__in=runs)
        .order_by("run_id", "pk")
        .values_list("run_id", "repetition", "status", "parsed")
        .iterator(chunk_size=2000)
    )
    for (run_id, _unit), group in groupby(rows, key=lambda r: (r[0], r[3].get("unit"))):
        items = list(group)
        run = runs[run_id]
        about = items[0][3].get("target") or {}
        graded = [
            (int(parsed["rubric"]["points"]), bool(parsed["met"]))
            for _r, _rep, status, parsed in items
            if status == EvaluationItem.Status.SUCCEEDED and "met" in parsed
        ]
        scored = science.target_score(graded)
        complete = len(graded) == len(items)
        points = [int(parsed["rubric"]["points"]) for _r, _rep, _s, parsed in items]
        yield {
            "run_id": run_id,
            "run_key": run.key,
            "grader_model": run.model_label,
            "template_version": (run.config.get("grader_template") or {}).get("version"),
            "target_key": about.get("key"),
            "source": about.get("source"),
            "arm_id": about.get("arm_id"),
            "source_run_key": about.get("run"),
            "task_id": about.get("task_id"),
            "evaluation_item_id": about.get("evaluation_item_id"),
            "participant_id": about.get("participant_id"),
            "scenario_key": about.get("scenario"),
            "scenario_version": about.get("scenario_version"),
            "repetition": items[0][1],
            "items": len(items),
            "items_met": sum(1 for _points, met in graded if met),
            "items_not_graded": len(items) - len(graded),
            "achieved": scored.achieved if complete else None,
            "possible": sum(p for p in points if p > 0),
            "score": scored.score if complete else None,
        }
