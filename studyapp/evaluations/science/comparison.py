"""Humans vs simulated participants vs the model alone: pure tables and the regression."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class Regression:
    n: int
    slope: float | None
    intercept: float | None
    r_squared: float | None


def linear_regression(x: Sequence[float], y: Sequence[float]) -> Regression:
    """Ordinary least squares of y on x (simulated accuracy on human accuracy)."""
    n = len(x)
    if n < 2 or n != len(y):
        return Regression(n, None, None, None)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    if sxx == 0:
        return Regression(n, None, None, None)
    slope = sxy / sxx
    r_squared = (sxy * sxy) / (sxx * syy) if syy else None
    return Regression(
        n,
        round(slope, 4),
        round(my - slope * mx, 4),
        None if r_squared is None or math.isnan(r_squared) else round(r_squared, 4),
    )


def simulated_on_human(cells: Sequence[Cell], measure: str = "disposition") -> Regression:
    pairs = [(cell.share(measure, "human"), cell.share(measure, "simulated")) for cell in cells]
    pairs = [(h, s) for h, s in pairs if h is not None and s is not None]
    return linear_regression([h for h, _ in pairs], [s for _, s in pairs])
