"""Plotly figures of the analysis dashboard, as JSON for plotly.js in the browser.

Each function takes the dashboard's pure tables (analysis.dashboard) and returns a plotly
figure as a plain dict ({"data": [...], "layout": {...}}); the template embeds it with
`json_script` and static/js/dashboard.js draws it with the vendored plotly.js. Figures
use the arms' display names only, so a blinded dashboard's figures are blinded too.

Dicts rather than plotly.graph_objects: building and validating the six figures through
graph_objects cost about 130 ms per dashboard request on the benchmark machine, more than
all of its queries. The tests pass every figure through `plotly.graph_objects.Figure`,
which rejects any property plotly does not know, so the dicts are still checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from studyapp.analysis.dashboard import Dashboard, Distribution, Matrix, MentionSummary
from studyapp.analysis.statistics import Proportion

# Colour-blind-safe (Okabe-Ito), one per arm in display order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
METRIC_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00"]
# Explicit scales, light (0%) to dark (100%): plotly.js knows only some scale names.
BLUES = [[0, "#f7fbff"], [0.5, "#6baed6"], [1, "#08306b"]]
PURPLES = [[0, "#fcfbfd"], [0.5, "#9e9ac8"], [1, "#3f007d"]]
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}


@dataclass(frozen=True)
class FigureSpec:
    id: str
    title: str
    description: str
    figure: dict
    height: int


def _layout(**extra) -> dict:
    base = {
        "font": FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        # Above the plot: below it, the legend ran into the x-axis title and the
        # rotated tick labels at 1280 px.
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
        "hoverlabel": {"font": FONT},
    }
    base.update(extra)
    return base


def _percent(p: Proportion) -> float | None:
    return None if p.value is None else round(100 * p.value, 2)


def _error_bars(props: Sequence[Proportion]) -> dict:
    plus = [None if p.value is None else round(100 * (p.ci_high - p.value), 2) for p in props]
    minus = [None if p.value is None else round(100 * (p.value - p.ci_low), 2) for p in props]
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus}


def _hover(props: Sequence[Proportion]) -> list[str]:
    out = []
    for p in props:
        if p.value is None:
            out.append("no answers")
        else:
            out.append(
                f"{100 * p.value:.1f}% ({p.successes}/{p.n}); "
                f"95% CI {100 * p.ci_low:.1f}-{100 * p.ci_high:.1f}%"
            )
    return out


def _bars(names: list[str], series: list[tuple[str, list[Proportion]]], y_title: str) -> dict:
    data = [
        {
            "type": "bar",
            "name": label,
            "x": names,
            "y": [_percent(p) for p in props],
            "error_y": _error_bars(props),
            "hovertext": _hover(props),
            "hoverinfo": "text+name",
            "marker": {"color": METRIC_COLOURS[i % len(METRIC_COLOURS)]},
        }
        for i, (label, props) in enumerate(series)
    ]
    layout = _layout(
        barmode="group",
        xaxis={"type": "category"},
        yaxis={"title": {"text": y_title}, "range": [0, 100]},
    )
    return {"data": data, "layout": layout}


def accuracy_figure(dashboard: Dashboard) -> dict:
    names = [row.arm.name for row in dashboard.summaries]
    return _bars(
        names,
        [
            ("Correct disposition", [row.disposition for row in dashboard.summaries]),
            ("Names a gold condition", [row.conditions for row in dashboard.summaries]),
        ],
        "% of answers",
    )


def _percent_grid(matrix: Matrix) -> list[list[float | None]]:
    return [[None if v is None else round(100 * v, 1) for v in row] for row in matrix.values]


def heatmap_figure(matrix: Matrix, *, colour_title: str) -> dict:
    text = [
        [f"{s}/{t}" if t else "" for s, t in zip(srow, trow, strict=True)]
        for srow, trow in zip(matrix.successes, matrix.totals, strict=True)
    ]
    trace = {
        "type": "heatmap",
        "z": _percent_grid(matrix),
        "x": matrix.columns,
        "y": matrix.rows,
        "text": text,
        "texttemplate": "%{text}",
        "hovertemplate": "%{y} · %{x}<br>%{z:.1f}% (%{text})<extra></extra>",
        "colorscale": BLUES,
        "zmin": 0,
        "zmax": 100,
        "colorbar": {"title": {"text": colour_title}},
    }
    layout = _layout(
        yaxis={"autorange": "reversed", "type": "category", "automargin": True},
        xaxis={"type": "category", "automargin": True},
    )
    return {"data": [trace], "layout": layout}


def confusion_figure(matrices: Sequence[Matrix]) -> dict:
    """Gold level (rows) against chosen level (columns), one panel per arm side by side,
    sharing the gold axis, as shares of each gold level's answers."""
    panels = max(1, len(matrices))
    gap = 0.03
    width = (1 - gap * (panels - 1)) / panels
    data, annotations = [], []
    layout = _layout(margin={"l": 60, "r": 20, "t": 40, "b": 60})
    for i, matrix in enumerate(matrices):
        suffix = "" if i == 0 else str(i + 1)
        left = i * (width + gap)
        data.append(
            {
                "type": "heatmap",
                "xaxis": f"x{suffix}",
                "yaxis": "y",
                "z": _percent_grid(matrix),
                "x": matrix.columns,
                "y": matrix.rows,
                "text": [[str(c) for c in row] for row in matrix.successes],
                "texttemplate": "%{text}",
                "hovertemplate": (
                    "gold %{y} · chose %{x}<br>%{text} answers (%{z:.1f}% of the row)"
                    "<extra>" + matrix.title + "</extra>"
                ),
                "colorscale": PURPLES,
                "zmin": 0,
                "zmax": 100,
                "showscale": i == panels - 1,
                "colorbar": {"title": {"text": "% of row"}},
            }
        )
        layout[f"xaxis{suffix}"] = {
            "domain": [left, left + width],
            "anchor": "y",
            "type": "category",
            "title": {"text": "chosen"},
            "automargin": True,
        }
        annotations.append(
            {
                "text": matrix.title,
                "x": left + width / 2,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
            }
        )
    layout["yaxis"] = {
        "anchor": "x",
        "autorange": "reversed",
        "type": "category",
        "title": {"text": "gold"},
        "automargin": True,
    }
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}


def _distance_label(d: int) -> str:
    if d == 0:
        return "0 exact"
    return f"+{d} over" if d > 0 else f"{d} under"


def distance_figure(distribution: Distribution) -> dict:
    """Share of each arm's answers by levels above (+, over-triage) or below (-) gold."""
    labels = [_distance_label(d) for d in distribution.distances]
    data = [
        {
            "type": "bar",
            "name": arm.name,
            "x": labels,
            "y": [round(100 * s, 2) for s in shares],
            "customdata": counts,
            "hovertemplate": "%{x}: %{y:.1f}% (%{customdata} answers)<extra>"
            + arm.name
            + "</extra>",
            "marker": {"color": PALETTE[i % len(PALETTE)]},
        }
        for i, (arm, counts, shares) in enumerate(
            zip(distribution.arms, distribution.counts, distribution.shares, strict=True)
        )
    ]
    layout = _layout(
        barmode="group",
        xaxis={
            "type": "category",
            "title": {"text": "chosen minus gold acuity (levels)"},
            "automargin": True,
        },
        yaxis={"title": {"text": "% of the arm's answers"}},
    )
    return {"data": data, "layout": layout}


def mentions_figure(mentions: Sequence[MentionSummary]) -> dict:
    names = [m.arm.name for m in mentions]
    return _bars(
        names,
        [
            ("Model named one in the chat", [m.model_named for m in mentions]),
            ("Participant named one in the chat", [m.participant_named for m in mentions]),
            ("Final answer names one", [m.answer_named for m in mentions]),
        ],
        "% of answered chats",
    )


def dashboard_figures(dashboard: Dashboard) -> list[FigureSpec]:
    n_arms = max(1, len(dashboard.arms))
    return [
        FigureSpec(
            id="fig-accuracy",
            title="Accuracy by arm",
            description=(
                "Share of answers with the gold disposition, and naming at least one gold "
                "condition; bars show 95% Wilson intervals."
            ),
            figure=accuracy_figure(dashboard),
            height=380,
        ),
        FigureSpec(
            id="fig-heatmap-disposition",
            title="Correct disposition, arm by scenario",
            description="Each cell: % of that arm's answers to that scenario at the gold level.",
            figure=heatmap_figure(dashboard.disposition_by_scenario, colour_title="% correct"),
            height=120 + 40 * n_arms,
        ),
        FigureSpec(
            id="fig-heatmap-conditions",
            title="Names a gold condition, arm by scenario",
            description="Each cell: % of scored answers naming at least one gold condition.",
            figure=heatmap_figure(dashboard.conditions_by_scenario, colour_title="% named"),
            height=120 + 40 * n_arms,
        ),
        FigureSpec(
            id="fig-confusion",
            title="Disposition: gold against chosen",
            description=(
                "Per arm; counts of answers, coloured by their share of the gold level's row. "
                "Cells left of the diagonal are over-triage (more acute than gold)."
            ),
            figure=confusion_figure(dashboard.confusion),
            height=380,
        ),
        FigureSpec(
            id="fig-triage",
            title="Over- and under-triage",
            description=(
                "Levels between the chosen and the gold disposition: positive is more acute "
                "than needed (over-triage), negative less (under-triage)."
            ),
            figure=distance_figure(dashboard.distances),
            height=360,
        ),
        FigureSpec(
            id="fig-mentions",
            title="Named in the chat vs reported in the answer",
            description=(
                "Answered chats in which the model, or the participant, named at least one "
                "gold condition, against answers that name one (95% Wilson intervals)."
            ),
            figure=mentions_figure(dashboard.mentions),
            height=380,
        ),
    ]


def reliability_figure(rows: Sequence, target: str) -> dict:
    """Stated confidence against observed accuracy, one line per arm (the plan's
    calibration rows: `arm` name and `result.curve` bins); the diagonal is perfect
    calibration. Empty bins are left out; a point's hover says its n."""
    data: list[dict] = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [0, 100],
            "y": [0, 100],
            "name": "Perfect calibration",
            "line": {"color": "#999", "dash": "dot"},
            "hoverinfo": "skip",
        }
    ]
    for i, row in enumerate(rows):
        bins = [b for b in row.result.curve.bins if b.n]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": row.arm,
                "x": [round(b.mean_confidence, 2) for b in bins],
                "y": [round(100 * b.accuracy, 2) for b in bins],
                "text": [f"n = {b.n}" for b in bins],
                "hovertemplate": "%{fullData.name}: confidence %{x:.0f}, "
                "correct %{y:.0f}% (%{text})<extra></extra>",
                "marker": {"color": PALETTE[i % len(PALETTE)]},
                "line": {"color": PALETTE[i % len(PALETTE)]},
            }
        )
    layout = _layout(
        xaxis={
            "title": {"text": "Stated confidence (0-100)"},
            "range": [0, 100],
            "automargin": True,
        },
        yaxis={"title": {"text": f"% with a correct {target}"}, "range": [0, 100]},
    )
    return {"data": data, "layout": layout}


def plan_figures(section) -> list[FigureSpec]:
    """The analysis plan's figures (analysis.selectors_plan.PlanSection): the reliability
    curve when the plan analyses calibration and inference is shown."""
    if section.hidden or not section.calibration:
        return []
    return [
        FigureSpec(
            id="fig-reliability",
            title="Confidence calibration",
            description=(
                f"Per arm: answers binned by stated confidence (deciles), against the share "
                f"with a correct {section.calibration_target}. On the dotted line, stated "
                f"confidence matches accuracy."
            ),
            figure=reliability_figure(section.calibration, section.calibration_target),
            height=380,
        )
    ]
