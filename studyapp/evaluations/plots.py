"""Plotly figures of the evaluations page, as dicts for plotly.js (static/js/dashboard.js)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from studyapp.evaluations.science.comparison import (
    SOURCES,
    Cell,
    Regression,
    regression_points,
)

SOURCE_LABELS = {"human": "Humans", "simulated": "Simulated", "model_alone": "Model alone"}


def comparison_figure(cells: Sequence[Cell], measure: str = "disposition") -> dict[str, Any]:
    labels = [f"{c.arm} · {c.scenario}" for c in cells]
    data = [
        {
            "type": "bar",
            "name": SOURCE_LABELS[source],
            "x": labels,
            "y": [c.share(measure, source) for c in cells],
        }
        for source in SOURCES
    ]
    title = "Correct disposition" if measure == "disposition" else "Names a gold condition"
    return {
        "data": data,
        "layout": {
            "title": {"text": f"{title}: humans, simulated participants, model alone"},
            "barmode": "group",
            "yaxis": {"range": [0, 1], "tickformat": ".0%"},
            "margin": {"b": 120},
        },
    }


def regression_figure(cells: Sequence[Cell], fit: Regression) -> dict[str, Any]:
    """Simulated against human accuracy per cell, each marker sized by the cell's human
    answers (the fit's weights), with the WLS line when there is one."""
    points = regression_points(cells)
    most = max((p[2] for p in points), default=1)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "arm · scenario (size: human answers)",
            "x": [p[0] for p in points],
            "y": [p[1] for p in points],
            "text": [f"{p[3].arm} · {p[3].scenario} (n humans {p[2]})" for p in points],
            "marker": {"size": [6 + 14 * p[2] / most for p in points]},
        }
    ]
    if fit.slope is not None and fit.intercept is not None:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"WLS fit: y = {fit.intercept:.2f} + {fit.slope:.2f}x",
                "x": [0, 1],
                "y": [fit.intercept, fit.intercept + fit.slope],
            }
        )
    return {
        "data": data,
        "layout": {
            "title": {"text": "Simulated vs human accuracy (disposition)"},
            "xaxis": {"title": {"text": "Humans"}, "range": [0, 1]},
            "yaxis": {"title": {"text": "Simulated"}, "range": [0, 1]},
        },
    }


def robustness_figure(
    rows: Sequence[dict[str, Any]], published: dict[str, float]
) -> dict[str, Any]:
    labels = [f"{r['depth']} · {r['intervention']}" for r in rows]
    data: list[dict[str, Any]] = [
        {"type": "bar", "name": "This run", "x": labels, "y": [r["change_pp"] for r in rows]}
    ]
    if published:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Published median (MedQA-Followup leaderboard)",
                "x": labels,
                "y": [r.get("published_median") for r in rows],
                "marker": {"symbol": "diamond", "size": 10},
            }
        )
    return {
        "data": data,
        "layout": {
            "title": {"text": "Accuracy change after the intervention (percentage points)"},
            "yaxis": {"title": {"text": "pp"}},
            "margin": {"b": 140},
        },
    }
