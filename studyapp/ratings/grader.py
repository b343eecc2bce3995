"""The rubric grader against the raters: per rubric item, how often a rubric run's
automatic verdicts agree with the raters' final rubric labels of the same chats.

The raters' final label of a chat (a transcript rating item: a participant's task, or a
simulated run's item) is its adjudication, else the raters' consensus, else the one label
of an item rated once as planned; an item still waiting for its second label, or
disputed, has none. When a chat was rated in more than one round, the latest round's
final label counts. Model-alone outputs are rated for the conditions they name, not on
the rubric, so their scores never have rater labels to stand beside.

Units are (rubric item, target, repetition): the grader's verdict beside the final
label's, for every rubric item the label has (labels and grades refer to the scenario
version of the chat, so keys match). The statistics are `agreement.matcher_agreement`'s,
the same as for the conditions matcher: Cohen's kappa (statsmodels) with a percentile
bootstrap CI over targets, plus the share of units that agree. Kappa is None where it is
undefined (every unit the same verdict).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Any

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.ratings.agreement import matcher_agreement
from studyapp.ratings.selectors import Status, item_states
from studyapp.studies.models import Study

# Which of an item's statuses give it a final label, and how exports and pages name it.
FINAL_LABELS = {
    Status.ADJUDICATED: "adjudicated",
    Status.CONSENSUS: "consensus",
    Status.SINGLE: "single",
}

Target = tuple[str, int]  # ("task", task id) or ("evaluation_item", item id)


def final_rubric_labels(*, study: Study) -> dict[Target, tuple[str, dict[str, bool]]]:
    """{target: (how final: adjudicated / consensus / single, {rubric key: met})} for
    every rated chat of the study whose label gives rubric verdicts (3 queries)."""
    states = item_states(study=study, extra_fields=["task_id", "evaluation_item_id"])
    out: dict[Target, tuple[str, dict[str, bool]]] = {}
    for state, row in sorted(states, key=lambda pair: (pair[0].round_created_at, pair[0].item_id)):
        if state.status not in FINAL_LABELS:
            continue
        decision = (
            state.reference if state.reference is not None else next(iter(state.labels.values()))
        )
        if not decision.rubric:
            continue
        if row["task_id"]:
            target: Target = ("task", row["task_id"])
        elif row["evaluation_item_id"]:
            target = ("evaluation_item", row["evaluation_item_id"])
        else:
            continue
        out[target] = (
            FINAL_LABELS[state.status],
            {key: met for key, (met, _turns) in decision.rubric.items()},
        )
    return out


def _target_of(about: dict) -> Target | None:
    """Where the raters' label of a graded target would be."""
    if about.get("source") == "human" and about.get("task_id"):
        return ("task", about["task_id"])
    if about.get("evaluation_item_id"):
        return ("evaluation_item", about["evaluation_item_id"])
    return None


def _figures(units: Sequence[tuple[Hashable, bool, bool]], *, seed: int) -> dict[str, Any]:
    if not units:
        return {"n": 0}
    figures = matcher_agreement(units, seed=seed)
    agreed = figures.tp + figures.tn
    return {
        "n": figures.n,
        "agreement": agreed / figures.n,
        "kappa": figures.kappa.as_dict(),
        # Grader met / rater met, and the other cells: the grader is the "matcher".
        "both_met": figures.tp,
        "grader_only": figures.fp,
        "raters_only": figures.fn,
        "neither": figures.tn,
    }


def grader_agreement(*, run: EvaluationRun) -> dict[str, Any]:
    """The rubric run's verdicts against the raters' final labels: pooled, per source
    and arm (the groups of its scores), and per rubric item (scenario, key)."""
    labels = final_rubric_labels(study=run.study)
    seed = int(run.config.get("seed") or 0)
    pooled: list[tuple[Hashable, bool, bool]] = []
    by_group: dict[tuple, list] = defaultdict(list)
    by_item: dict[tuple[str, str], list] = defaultdict(list)
    by_item_group: dict[tuple, list] = defaultdict(list)
    by_scenario_group: dict[tuple, list] = defaultdict(list)
    finals: dict[str, int] = defaultdict(int)
    labelled_targets: set[Target] = set()
    rows = run.items.filter(status=EvaluationItem.Status.SUCCEEDED).values_list(
        "parsed", flat=True
    )
    for parsed in rows:
        about, rubric = parsed.get("target") or {}, parsed.get("rubric") or {}
        target = _target_of(about)
        if target is None or target not in labels or "met" not in parsed:
            continue
        final, verdicts = labels[target]
        key = rubric.get("key")
        if key not in verdicts:
            continue
        if target not in labelled_targets:
            labelled_targets.add(target)
            finals[final] += 1
        unit = (target, bool(parsed["met"]), bool(verdicts[key]))
        group = (about.get("source"), about.get("arm"), about.get("run"))
        item = (about.get("scenario"), key)
        pooled.append(unit)
        by_group[group].append(unit)
        by_item[item].append(unit)
        by_item_group[(*item, *group)].append(unit)
        by_scenario_group[(*group, about.get("scenario"))].append(unit)
    return {
        "labelled_targets": len(labelled_targets),
        "final_labels": dict(finals),
        "pooled": _figures(pooled, seed=seed),
        "groups": [
            {"source": g[0], "arm": g[1], "run": g[2]} | _figures(units, seed=seed)
            for g, units in sorted(by_group.items(), key=lambda p: tuple(map(str, p[0])))
        ],
        "scenarios": [
            {"source": src, "arm": arm, "run": r, "scenario": s} | _figures(units, seed=seed)
            for (src, arm, r, s), units in sorted(
                by_scenario_group.items(), key=lambda p: tuple(map(str, p[0]))
            )
        ],
        "rubric_items": [
            {"scenario": s, "key": k} | _figures(units, seed=seed)
            for (s, k), units in sorted(by_item.items())
        ],
        "rubric_item_groups": [
            {"scenario": s, "key": k, "source": src, "arm": arm, "run": r}
            | _figures(units, seed=seed)
            for (s, k, src, arm, r), units in sorted(
                by_item_group.items(), key=lambda p: tuple(map(str, p[0]))
            )
        ],
        "method": "Cohen's kappa (statsmodels) with a percentile bootstrap CI over targets "
        f"(1000 resamples, seed {seed}); agreement = share of (item, target) units alike",
    }


def _group_key(row: dict) -> tuple:
    return (row.get("source"), row.get("arm"), row.get("run"))


def scores_beside_agreement(summary: dict[str, Any], agreement: dict[str, Any]) -> dict:
    """The rubric run's scores, each row with the grader's agreement with the raters on
    the same targets (`None`: no rater labels yet), for the results page."""
    groups = {_group_key(r): r for r in agreement["groups"]}
    scenarios = {(*_group_key(r), r["scenario"]): r for r in agreement["scenarios"]}
    items = {(r["scenario"], r["key"], *_group_key(r)): r for r in agreement["rubric_item_groups"]}
    return {
        "groups": [row | {"raters": groups.get(_group_key(row))} for row in summary["groups"]],
        "scenarios": [
            row | {"raters": scenarios.get((*_group_key(row), row["scenario"]))}
            for row in summary["scenarios"]
        ],
        "rubric_items": [
            {
                "scenario": item["scenario"],
                "key": item["key"],
                "points": item["points"],
                "applies_to": item["applies_to"],
            }
            | group
            | {"raters": items.get((item["scenario"], item["key"], *_group_key(group)))}
            for item in summary["rubric_items"]
            for group in item["by_group"]
        ],
    }
