"""Humans vs simulated participants vs the model alone: pure tables and the regression
of simulated on human accuracy (statsmodels WLS, weighted by the human answers per cell)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import statsmodels.api as sm

SOURCES = ("human", "simulated", "model_alone")


@dataclass
class Cell:
    """One arm and scenario: per source, [exact dispositions, n] and [correct conditions, n]."""

    arm: str
    scenario: str
    disposition: dict[str, list[int]] = field(default_factory=dict)
    conditions: dict[str, list[int]] = field(default_factory=dict)

    def share(self, measure: str, source: str) -> float | None:
        k, n = getattr(self, measure).get(source, [0, 0])
        return k / n if n else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "scenario": self.scenario,
            **{
                f"{measure}_{source}": self.share(measure, source)
                for measure in ("disposition", "conditions")
                for source in SOURCES
            },
            **{f"n_{source}": self.disposition.get(source, [0, 0])[1] for source in SOURCES},
            # Each measure's own n: an imported run may have asked only about conditions.
            **{
                f"n_conditions_{source}": self.conditions.get(source, [0, 0])[1]
                for source in SOURCES
            },
        }


def comparison_cells(rows: Iterable[dict[str, Any]]) -> list[Cell]:
    """rows: {source, arm, scenario, n, exact, conditions_n, conditions_correct}."""
    cells: dict[tuple[str, str], Cell] = {}
    for row in rows:
        cell = cells.setdefault((row["arm"], row["scenario"]), Cell(row["arm"], row["scenario"]))
        d = cell.disposition.setdefault(row["source"], [0, 0])
        d[0] += row["exact"]
        d[1] += row["n"]
        c = cell.conditions.setdefault(row["source"], [0, 0])
        c[0] += row["conditions_correct"]
        c[1] += row["conditions_n"]
    return [cells[key] for key in sorted(cells)]


# Fewer cells leave no residual degrees of freedom worth an interval (2 cells: a line
# through both points, SE undefined).
MIN_CELLS = 3
WEIGHTS = "the number of human answers in each cell"


@dataclass(frozen=True)
class Regression:
    """Weighted least squares of simulated accuracy on human accuracy over cells.

    Each cell is weighted by its number of human answers: a cell's human share is an
    estimate whose variance shrinks with its n, so the cells HELPMed-sized arms answered
    often count more than a scenario two people saw. Intervals are 95% t intervals on the
    model-based standard errors (statsmodels WLS). Without a fit, `reason` says why and
    every figure is None.
    """

    n: int
    slope: float | None = None
    intercept: float | None = None
    slope_se: float | None = None
    intercept_se: float | None = None
    slope_ci: tuple[float, float] | None = None
    intercept_ci: tuple[float, float] | None = None
    r_squared: float | None = None
    weights: str = WEIGHTS
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _finite(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else float(value)


def weighted_regression(
    x: Sequence[float], y: Sequence[float], weights: Sequence[float]
) -> Regression:
    """statsmodels WLS of y on x (with an intercept), weighted by `weights`."""
    n = len(x)
    if n != len(y) or n != len(weights):
        raise ValueError("x, y and weights differ in length")
    if n < MIN_CELLS:
        return Regression(
            n, reason=f"needs at least {MIN_CELLS} cells with humans and simulated participants"
        )
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.ptp(xs) == 0:
        return Regression(n, reason="human accuracy is the same in every cell: no slope")
    fit = sm.WLS(ys, sm.add_constant(xs), weights=np.asarray(weights, dtype=float)).fit()
    (intercept_low, intercept_high), (slope_low, slope_high) = fit.conf_int(alpha=0.05)
    return Regression(
        n,
        slope=float(fit.params[1]),
        intercept=float(fit.params[0]),
        slope_se=_finite(fit.bse[1]),
        intercept_se=_finite(fit.bse[0]),
        slope_ci=(float(slope_low), float(slope_high)),
        intercept_ci=(float(intercept_low), float(intercept_high)),
        # Undefined (0/0) when simulated accuracy is the same in every cell.
        r_squared=None if np.ptp(ys) == 0 else _finite(fit.rsquared),
    )


def regression_points(
    cells: Sequence[Cell], measure: str = "disposition"
) -> list[tuple[float, float, int, Cell]]:
    """(human share, simulated share, human n, cell) of the cells with both sources."""
    points = []
    for cell in cells:
        human, simulated = cell.share(measure, "human"), cell.share(measure, "simulated")
        if human is not None and simulated is not None:
            points.append((human, simulated, getattr(cell, measure)["human"][1], cell))
    return points


def simulated_on_human(cells: Sequence[Cell], measure: str = "disposition") -> Regression:
    points = regression_points(cells, measure)
    return weighted_regression(
        [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
    )
