"""The participants' outcomes for model-alone and simulated runs, with scenario-cluster CIs.

Pure: plain rows in, frozen dataclasses out, no ORM. A run's items answer the same
scenarios over and over (600 repetitions of 10 scenarios in HELPMed), so its answers are
not independent: a model that fails one scenario fails it in most repetitions. An interval
that treats 600 answers as 600 independent trials is far too narrow (one HELPMed scenario
scores 48% while the model's Wilson CI is 92.6-96.2%). Each rate's 95% CI therefore comes
from ``analysis.inference.cluster_bootstrap_ci`` with the scenario as the cluster: whole
scenarios are resampled, so the interval says how the rate would move on another draw of
scenarios like these. With fewer than two scenarios there is no such interval (None, and
the note says so).

``analysis.inference`` is a pure module (numpy, scipy, statsmodels; no ORM and no Django),
so reading it from here keeps this layer free of the database.

Outcomes, each a share of the items that carry it:
- disposition exact, over-triage (more acute than gold), under-triage: of the items asked
  the disposition; an item without a readable disposition is in the denominator (wrong,
  neither over nor under, counted in ``unread``), as it counts wrong in the run's accuracy;
- conditions correct: of the items asked the conditions;
- red flag named: of the items asked the conditions on a scenario that has red flags.
The confusion table is gold level x chosen level (an extra column for no readable
disposition), counts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studyapp.analysis.inference import cluster_bootstrap_ci

# The interval's settings, stated with every result (the run's own seed replaces SEED).
N_BOOT = 2000
SEED = 0
ALPHA = 0.05

RATES = ("disposition_exact", "over_triage", "under_triage", "conditions_correct", "red_flag")
RATE_LABELS = {
    "disposition_exact": "Disposition exact",
    "over_triage": "Over-triage",
    "under_triage": "Under-triage",
    "conditions_correct": "Conditions correct",
    "red_flag": "Red flag named",
}
# The confusion table's column for an answer without a readable disposition.
UNREAD = "unread"


@dataclass(frozen=True)
class ScoredItem:
    """One finished item as its scores stand.

    outcome: "exact", "over", "under", "" (no readable disposition) or None (the item was
    not asked the disposition). conditions_correct: None when it was not asked the
    conditions. red_flag_named: None when it was not asked the conditions or its scenario
    has no red flags.
    """

    scenario: str
    gold: str | None
    chosen: str | None
    outcome: str | None
    conditions_correct: bool | None
    red_flag_named: bool | None


@dataclass(frozen=True)
class Rate:
    key: str
    label: str
    k: int
    n: int
    n_scenarios: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Confusion:
    """Counts of gold level (rows) x chosen level (columns, then UNREAD)."""

    levels: tuple[str, ...]
    columns: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "levels": list(self.levels),
            "columns": list(self.columns),
            "counts": [list(row) for row in self.counts],
            # The same counts labelled by gold level, for tables.
            "rows": [
                {"level": level, "counts": list(row)}
                for level, row in zip(self.levels, self.counts, strict=True)
            ],
        }


@dataclass(frozen=True)
class RunOutcomes:
    rates: tuple[Rate, ...]
    confusion: Confusion
    unread: int
    bootstrap: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rates": {rate.key: rate.as_dict() for rate in self.rates},
            "confusion": self.confusion.as_dict(),
            "unread": self.unread,
            "bootstrap": dict(self.bootstrap),
        }


def _indicator(items: Sequence[ScoredItem], key: str) -> list[tuple[str, bool]]:
    """(scenario, success) of every item in the outcome's denominator."""
    if key == "conditions_correct":
        return [
            (i.scenario, i.conditions_correct) for i in items if i.conditions_correct is not None
        ]
    if key == "red_flag":
        return [(i.scenario, i.red_flag_named) for i in items if i.red_flag_named is not None]
    wanted = {"disposition_exact": "exact", "over_triage": "over", "under_triage": "under"}[key]
    return [(i.scenario, i.outcome == wanted) for i in items if i.outcome is not None]


def _rate(key: str, pairs: list[tuple[str, bool]], *, n_boot: int, seed: int) -> Rate:
    n = len(pairs)
    k = sum(success for _, success in pairs)
    scenarios = sorted({scenario for scenario, _ in pairs})
    interval = None
    note = ""
    if n:
        interval = cluster_bootstrap_ci(
            [float(success) for _, success in pairs],
            [scenario for scenario, _ in pairs],
            n_boot=n_boot,
            seed=seed,
            alpha=ALPHA,
        )
        if interval is None:
            note = "one scenario: no scenario-cluster interval"
    return Rate(
        key=key,
        label=RATE_LABELS[key],
        k=k,
        n=n,
        n_scenarios=len(scenarios),
        value=k / n if n else None,
        ci_low=interval[0] if interval else None,
        ci_high=interval[1] if interval else None,
        note=note,
    )


def confusion_table(items: Sequence[ScoredItem], levels: Sequence[str]) -> Confusion:
    """Gold x chosen counts over the items asked the disposition, in `levels`' order
    (most acute first, as the scale is shown). A code outside `levels` is an error: the
    scale and the items must be the study's."""
    columns = (*levels, UNREAD)
    index = {code: i for i, code in enumerate(levels)}
    counts = np.zeros((len(levels), len(columns)), dtype=int)
    for item in items:
        if item.outcome is None or item.gold is None:
            continue
        column = index[item.chosen] if item.chosen is not None else len(levels)
        counts[index[item.gold], column] += 1
    return Confusion(
        levels=tuple(levels),
        columns=columns,
        counts=tuple(tuple(int(c) for c in row) for row in counts),
    )


def run_outcomes(
    items: Sequence[ScoredItem],
    *,
    levels: Sequence[str],
    seed: int = SEED,
    n_boot: int = N_BOOT,
) -> RunOutcomes:
    """Every outcome of a run's finished items, each with its scenario-cluster 95% CI."""
    return RunOutcomes(
        rates=tuple(_rate(key, _indicator(items, key), n_boot=n_boot, seed=seed) for key in RATES),
        confusion=confusion_table(items, levels),
        unread=sum(1 for item in items if item.outcome == ""),
        bootstrap={
            "method": "percentile bootstrap resampling whole scenarios",
            "cluster": "scenario",
            "n_boot": n_boot,
            "seed": seed,
            "level": 1 - ALPHA,
        },
    )
