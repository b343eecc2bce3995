"""The analysis plan's inferences: per contrast x outcome x analysis set, the odds ratio,
the risk difference, the test the plan's rule picks and the multiplicity-adjusted p; the
acuity distance by Mann-Whitney; calibration per arm; and, for the confirmatory family, a
GEE model and a participant-cluster bootstrap beside the unadjusted figures.

Pure: rows in (`TaskCell`, read by `analysis.selectors_plan`), frozen dataclasses out. The
figures come from `analysis.inference` and `analysis.statistics` (scipy/statsmodels); this
module decides which rows each analysis set and outcome counts, as the plan defines them
(studies.analysis_plan: the same words are shown on the pages).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from studyapp.analysis.inference import (
    Contrast,
    auroc,
    brier,
    gee_logistic,
    holm,
    reliability_curve,
    two_by_two,
)
from studyapp.analysis.statistics import bonferroni, mann_whitney
from studyapp.studies import analysis_plan as plans


@dataclass(frozen=True)
class TaskCell:
    """Allocated tasks sharing every property an outcome or an analysis set reads (and,
    for the model-based analyses, one participant's task: `participant` and `scenario`)."""

    arm: str  # arm key
    completed: bool
    check_passed: bool
    turns_ok: bool  # at least the plan's min_turns participant messages
    answered: bool
    distance: int | None  # chosen minus gold acuity; None: no answer
    conditions: bool | None  # None: no answer, or not scored yet
    red_flag_applicable: bool  # the scenario lists red flags
    red_flag: bool | None
    confidence: int | None
    n: int = 1
    participant: int | None = None
    scenario: str | None = None


def in_analysis_set(
    cell: TaskCell,
    name: str,
    *,
    plan: Mapping[str, Any],
    arm_kind: Mapping[str, str],
    has_check: bool,
) -> bool:
    if name == "itt":
        return True
    pp = plan["per_protocol"]
    if not cell.answered:
        return False
    if pp["completed"] and not cell.completed:
        return False
    if pp["passed_check"] and has_check and not cell.check_passed:
        return False
    # The turns rule applies to LLM arms only: a control participant has no chat.
    return not (pp["min_turns"] and arm_kind.get(cell.arm) == "llm" and not cell.turns_ok)


def binary_value(cell: TaskCell, outcome: str, *, itt_missing: str) -> bool | None:
    """The cell's outcome: True/False, or None when it does not count for this outcome."""
    missing_fails = itt_missing == "incorrect" and plans.OUTCOMES[outcome].missing_can_fail
    if outcome == "red_flag" and not cell.red_flag_applicable:
        return None
    if not cell.answered:
        return False if missing_fails else None
    if outcome == "conditions":
        return cell.conditions
    if outcome == "disposition":
        return cell.distance == 0
    if outcome == "red_flag":
        return bool(cell.red_flag)
    if outcome == "over_triage":
        return cell.distance is not None and cell.distance > 0
    if outcome == "under_triage":
        return cell.distance is not None and cell.distance < 0
    raise ValueError(f"not a binary outcome: {outcome!r}")


@dataclass(frozen=True)
class GroupCount:
    successes: int
    n: int

    @property
    def proportion(self) -> float | None:
        return self.successes / self.n if self.n else None


@dataclass(frozen=True)
class ContrastResult:
    """One contrast x outcome x analysis set."""

    contrast: str
    label: str
    primary_contrast: bool
    outcome: str
    outcome_label: str
    role: str  # primary / secondary outcome
    analysis_set: str
    a: GroupCount
    b: GroupCount
    test: str | None  # chi2, fisher, mann_whitney
    p: float | None
    figures: Contrast | None = None  # binary outcomes
    mann_whitney_u: float | None = None
    mann_whitney_f: float | None = None
    family: str = ""
    p_adjusted: float | None = None
    # "planned": in the plan locked at the first allocation; "exploratory": added or
    # changed after it; "draft": the plan is not locked yet (nobody allocated).
    status: str = "draft"
    adjusted: dict[str, Any] | None = None
    bootstrap: dict[str, Any] | None = None

    @property
    def confirmatory(self) -> bool:
        return self.family.endswith(":primary") and self.analysis_set_is_primary

    @property
    def analysis_set_is_primary(self) -> bool:
        return self.family.startswith("primary-set")

    def as_dict(self) -> dict[str, Any]:
        figures = self.figures
        return {
            "contrast": self.contrast,
            "comparison": self.label,
            "primary_contrast": self.primary_contrast,
            "outcome": self.outcome,
            "outcome_role": self.role,
            "analysis_set": self.analysis_set,
            "status": self.status,
            "a": {"successes": self.a.successes, "n": self.a.n},
            "b": {"successes": self.b.successes, "n": self.b.n},
            "odds_ratio": figures.odds_ratio if figures else None,
            "ci_low": figures.or_ci_low if figures else None,
            "ci_high": figures.or_ci_high if figures else None,
            "risk_difference": figures.risk_difference if figures else None,
            "rd_ci_low": figures.rd_ci_low if figures else None,
            "rd_ci_high": figures.rd_ci_high if figures else None,
            "p": self.p,
            "test": self.test,
            "chi2_p": figures.chi2_p if figures else None,
            "fisher_p": figures.fisher_p if figures else None,
            "min_expected": figures.min_expected if figures else None,
            "note": figures.note if figures else "",
            "mann_whitney_u": self.mann_whitney_u,
            "mann_whitney_f": self.mann_whitney_f,
            "family": self.family,
            "p_adjusted": self.p_adjusted,
            "adjusted": self.adjusted,
            "bootstrap": self.bootstrap,
        }


@dataclass(frozen=True)
class CalibrationResult:
    arm: str
    n: int
    brier: float | None
    auroc: float | None
    curve: Any  # inference.ReliabilityCurve

    def as_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "n": self.n,
            "brier": self.brier,
            "auroc": self.auroc,
            "reliability": self.curve.as_dict(),
        }


@dataclass(frozen=True)
class PlanAnalysis:
    results: list[ContrastResult]
    calibration: list[CalibrationResult]
    calibration_target: str
    notes: list[str] = field(default_factory=list)

    @property
    def primary(self) -> list[ContrastResult]:
        return [r for r in self.results if r.primary_contrast and r.confirmatory]


def _planned_keys(
    locked: Mapping[str, Any] | None, arms: Sequence[tuple[str, str]]
) -> tuple[set[tuple[str, str, str, str]], dict[str, Any]] | None:
    if locked is None:
        return None
    roles = plans.outcome_roles(locked)
    keys = {
        (c.key, outcome, analysis_set, role)
        for c in plans.resolve_contrasts(locked, arms=arms)
        for outcome, role in roles.items()
        for analysis_set in plans.analysis_sets(locked)
    }
    return keys, _shared_parameters(locked)


def _shared_parameters(plan: Mapping[str, Any]) -> dict[str, Any]:
    """What every contrast's figures depend on beyond its own keys."""
    return {k: v for k, v in plan.items() if k not in ("name", "contrasts", "outcomes")}


def analyse(
    cells: Iterable[TaskCell],
    *,
    plan: Mapping[str, Any],
    arms: Sequence[tuple[str, str]],
    has_check: bool,
    locked: Mapping[str, Any] | None = None,
    participant_rows: Sequence[TaskCell] | None = None,
) -> PlanAnalysis:
    """Every contrast x outcome x analysis set of `plan` over the study's `arms` ((key,
    kind) pairs). `locked`: the plan locked at the first allocation (None: not yet), which
    decides planned vs exploratory. `participant_rows`: one cell per task with its
    participant and scenario, for the GEE model and the bootstrap of the confirmatory
    family (None: those are left out, e.g. on a page that shows them from a cache)."""
    cells = list(cells)
    arm_kind = dict(arms)
    roles = plans.outcome_roles(plan)
    sets = plans.analysis_sets(plan)
    contrasts = plans.resolve_contrasts(plan, arms=arms)
    planned = _planned_keys(locked, arms)
    same_parameters = planned is not None and planned[1] == _shared_parameters(plan)
    results: list[ContrastResult] = []
    for analysis_set in sets:
        kept = [
            c
            for c in cells
            if in_analysis_set(c, analysis_set, plan=plan, arm_kind=arm_kind, has_check=has_check)
        ]
        set_family = (
            "primary-set" if analysis_set == plan["primary_analysis_set"] else "sensitivity-set"
        )
        for contrast in contrasts:
            for outcome, role in roles.items():
                kind = plans.OUTCOMES[outcome].kind
                if kind == "calibration":
                    continue
                result = _one(kept, contrast, outcome, role, analysis_set, plan)
                if planned is None:
                    status = "draft"
                elif same_parameters and (contrast.key, outcome, analysis_set, role) in planned[0]:
                    status = "planned"
                else:
                    status = "exploratory"
                results.append(replace(result, family=f"{set_family}:{role}", status=status))
    results = _adjust(results, plan["multiplicity"])
    if participant_rows is not None and plan.get("adjusted") != "none":
        results = [
            _with_models(r, participant_rows, plan, arm_kind, has_check, contrasts)
            if r.confirmatory and r.figures is not None
            else r
            for r in results
        ]
    target = plan.get("calibration_target", "disposition")
    calibration = (
        _calibration(cells, arms=arms, target=target, plan=plan) if "calibration" in roles else []
    )
    return PlanAnalysis(results=results, calibration=calibration, calibration_target=target)


def _one(
    cells: Sequence[TaskCell],
    contrast: plans.ResolvedContrast,
    outcome: str,
    role: str,
    analysis_set: str,
    plan: Mapping[str, Any],
) -> ContrastResult:
    a_keys, b_keys = set(contrast.a.arm_keys), set(contrast.b.arm_keys)
    base = {
        "contrast": contrast.key,
        "label": contrast.label,
        "primary_contrast": contrast.primary,
        "outcome": outcome,
        "outcome_label": plans.OUTCOMES[outcome].label,
        "role": role,
        "analysis_set": analysis_set,
    }
    if plans.OUTCOMES[outcome].kind == "ordinal":
        a_values = _distances(cells, a_keys)
        b_values = _distances(cells, b_keys)
        test = mann_whitney(a_values, b_values)
        return ContrastResult(
            **base,
            a=GroupCount(0, len(a_values)),
            b=GroupCount(0, len(b_values)),
            test="mann_whitney" if test.p is not None else None,
            p=test.p,
            mann_whitney_u=test.u,
            mann_whitney_f=test.f,
        )
    counts = {"a": [0, 0], "b": [0, 0]}
    for cell in cells:
        side = "a" if cell.arm in a_keys else "b" if cell.arm in b_keys else None
        if side is None:
            continue
        value = binary_value(cell, outcome, itt_missing=plan["itt_missing"])
        if value is None:
            continue
        counts[side][0] += cell.n if value else 0
        counts[side][1] += cell.n
    figures = two_by_two(counts["a"][0], counts["a"][1], counts["b"][0], counts["b"][1])
    return ContrastResult(
        **base,
        a=GroupCount(*counts["a"]),
        b=GroupCount(*counts["b"]),
        test=figures.test,
        p=figures.p,
        figures=figures,
    )


def _distances(cells: Sequence[TaskCell], keys: set[str]) -> list[int]:
    return [
        c.distance for c in cells if c.arm in keys and c.distance is not None for _ in range(c.n)
    ]


def _adjust(results: list[ContrastResult], method: str) -> list[ContrastResult]:
    """p_adjusted within each family (inference.holm, or statistics.bonferroni); a result
    without a p gets none and does not count in its family."""
    by_family: dict[str, list[int]] = defaultdict(list)
    for i, result in enumerate(results):
        if result.p is not None:
            by_family[result.family].append(i)
    adjusted = list(results)
    for indexes in by_family.values():
        pvalues = [results[i].p for i in indexes]
        if method == "holm":
            values = holm(pvalues)
        elif method == "bonferroni":
            values = bonferroni(pvalues)
        else:
            values = pvalues
        for i, value in zip(indexes, values, strict=True):
            adjusted[i] = replace(results[i], p_adjusted=value)
    return adjusted


def _with_models(
    result: ContrastResult,
    rows: Sequence[TaskCell],
    plan: Mapping[str, Any],
    arm_kind: Mapping[str, str],
    has_check: bool,
    contrasts: Sequence[plans.ResolvedContrast],
) -> ContrastResult:
    contrast = next(c for c in contrasts if c.key == result.contrast)
    a_keys, b_keys = set(contrast.a.arm_keys), set(contrast.b.arm_keys)
    data = []
    for row in rows:
        if row.arm not in a_keys and row.arm not in b_keys:
            continue
        if not in_analysis_set(
            row, result.analysis_set, plan=plan, arm_kind=arm_kind, has_check=has_check
        ):
            continue
        value = binary_value(row, result.outcome, itt_missing=plan["itt_missing"])
        if value is None:
            continue
        data.append(
            {
                "correct": value,
                "arm": "a" if row.arm in a_keys else "b",
                "scenario": row.scenario,
                "participant": row.participant,
            }
        )
    fit = gee_logistic(data, reference="b")
    effect = fit.arms[0] if fit.arms else None
    adjusted = {
        "method": "gee_logistic",
        "odds_ratio": effect.odds_ratio if effect else None,
        "ci_low": effect.ci_low if effect else None,
        "ci_high": effect.ci_high if effect else None,
        "p": effect.p if effect else None,
        "n": fit.n,
        "n_clusters": fit.n_clusters,
        "fallback_reason": fit.fallback_reason,
        "note": fit.note,
    }
    boot = plan["bootstrap"]
    interval = participant_bootstrap_rd(data, n_boot=boot["n_boot"], seed=boot["seed"])
    bootstrap = {
        "method": "participant_cluster_bootstrap",
        "statistic": "risk_difference",
        "ci_low": interval[0] if interval else None,
        "ci_high": interval[1] if interval else None,
        "n_boot": boot["n_boot"],
        "seed": boot["seed"],
    }
    return replace(result, adjusted=adjusted, bootstrap=bootstrap)


def participant_bootstrap_rd(
    rows: Sequence[Mapping[str, Any]], *, n_boot: int, seed: int, alpha: float = 0.05
) -> tuple[float, float] | None:
    """Percentile CI of the risk difference a - b, resampling whole participants within
    each group (a participant's answers stay together). Per participant the successes and
    answers are summed once, so a draw costs two integer gathers. The groups' participants
    are taken in sorted order and `np.random.default_rng(seed)` draws group a's then group
    b's indexes: the same seed gives the same interval. None when a group has fewer than
    two participants."""
    totals: dict[str, dict[Any, list[int]]] = {"a": {}, "b": {}}
    for row in rows:
        cell = totals[row["arm"]].setdefault(row["participant"], [0, 0])
        cell[0] += int(bool(row["correct"]))
        cell[1] += 1
    if len(totals["a"]) < 2 or len(totals["b"]) < 2:
        return None
    rng = np.random.default_rng(seed)
    shares = []
    for side in ("a", "b"):
        ordered = [totals[side][k] for k in sorted(totals[side])]
        s = np.array([c[0] for c in ordered], dtype=np.int64)
        n = np.array([c[1] for c in ordered], dtype=np.int64)
        out = np.empty(n_boot)
        chunk = max(1, 2_000_000 // len(s))
        for start in range(0, n_boot, chunk):
            size = min(chunk, n_boot - start)
            draw = rng.integers(0, len(s), size=(size, len(s)))
            out[start : start + size] = s[draw].sum(axis=1) / n[draw].sum(axis=1)
        shares.append(out)
    diff = shares[0] - shares[1]
    low, high = np.percentile(diff, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def _calibration(
    cells: Sequence[TaskCell],
    *,
    arms: Sequence[tuple[str, str]],
    target: str,
    plan: Mapping[str, Any],
) -> list[CalibrationResult]:
    """Per arm, over answers with a confidence (and, for conditions, a score)."""
    out = []
    for key, _kind in arms:
        confidence: list[int] = []
        correct: list[bool] = []
        for cell in cells:
            if cell.arm != key or not cell.answered or cell.confidence is None:
                continue
            value = binary_value(cell, target, itt_missing="excluded")
            if value is None:
                continue
            confidence += [cell.confidence] * cell.n
            correct += [value] * cell.n
        out.append(
            CalibrationResult(
                arm=key,
                n=len(confidence),
                brier=brier(confidence, correct),
                auroc=auroc(confidence, correct),
                curve=reliability_curve(confidence, correct),
            )
        )
    return out
