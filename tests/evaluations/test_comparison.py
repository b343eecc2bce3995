"""Simulated vs human accuracy per cell (evaluations.science.comparison): statsmodels WLS
weighted by the human answers per cell, checked against statsmodels called directly."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from studyapp.evaluations import plots
from studyapp.evaluations.science.comparison import (
    comparison_cells,
    simulated_on_human,
    weighted_regression,
)


def rows(cells):
    """comparison_rows-shaped counts: (arm, scenario, human k, human n, sim k, sim n)."""
    out = []
    for arm, scenario, hk, hn, sk, sn in cells:
        for source, k, n in (("human", hk, hn), ("simulated", sk, sn)):
            if n:
                out.append(
                    {
                        "source": source,
                        "arm": arm,
                        "scenario": scenario,
                        "n": n,
                        "exact": k,
                        "conditions_n": n,
                        "conditions_correct": k,
                    }
                )
    return out


CELLS = [
    ("gpt", "s1", 30, 60, 12, 20),
    ("gpt", "s2", 50, 60, 17, 20),
    ("gpt", "s3", 10, 40, 6, 20),
    ("llama", "s1", 20, 55, 9, 20),
    ("llama", "s2", 45, 58, 15, 20),
    # Simulated only: left out of the fit.
    ("llama", "s3", 0, 0, 7, 20),
]


def statsmodels_fit(x, y, w):
    return sm.WLS(np.array(y), sm.add_constant(np.array(x)), weights=np.array(w)).fit()


def test_the_fit_is_statsmodels_wls_weighted_by_human_answers():
    fit = simulated_on_human(comparison_cells(rows(CELLS)))
    used = [c for c in CELLS if c[3]]
    x = [hk / hn for _, _, hk, hn, _, _ in used]
    y = [sk / sn for *_, sk, sn in used]
    expected = statsmodels_fit(x, y, [hn for _, _, _, hn, _, _ in used])
    assert fit.n == 5
    assert fit.weights == "the number of human answers in each cell"
    assert (fit.intercept, fit.slope) == pytest.approx(tuple(expected.params), abs=1e-12)
    assert (fit.intercept_se, fit.slope_se) == pytest.approx(tuple(expected.bse), abs=1e-12)
    ci = expected.conf_int(alpha=0.05)
    assert fit.intercept_ci == pytest.approx(tuple(ci[0]), abs=1e-12)
    assert fit.slope_ci == pytest.approx(tuple(ci[1]), abs=1e-12)
    assert fit.r_squared == pytest.approx(expected.rsquared, abs=1e-12)
    # The weights matter: an unweighted fit gives another slope.
    assert fit.slope != pytest.approx(statsmodels_fit(x, y, [1] * 5).params[1], abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(1, 500)),
        min_size=3,
        max_size=30,
    ).filter(lambda points: np.ptp([p[0] for p in points]) > 1e-6)
)
def test_any_cells_fit_as_statsmodels_does(points):
    x, y, w = zip(*points, strict=True)
    fit = weighted_regression(x, y, w)
    expected = statsmodels_fit(x, y, w)
    assert fit.slope == pytest.approx(expected.params[1], rel=1e-9, abs=1e-9)
    assert fit.slope_ci == pytest.approx(tuple(expected.conf_int()[1]), rel=1e-9, abs=1e-9)


def test_fewer_than_three_cells_give_a_reason_not_an_exception():
    fit = simulated_on_human(comparison_cells(rows(CELLS[:2])))
    assert fit.n == 2 and fit.slope is None and fit.slope_ci is None
    assert fit.reason == "needs at least 3 cells with humans and simulated participants"
    assert weighted_regression([], [], []).reason


def test_the_same_human_accuracy_everywhere_has_no_slope():
    fit = weighted_regression([0.5, 0.5, 0.5], [0.1, 0.4, 0.9], [10, 20, 30])
    assert fit.slope is None and "same in every cell" in fit.reason


def test_the_same_simulated_accuracy_everywhere_has_a_flat_line_and_no_r_squared():
    fit = weighted_regression([0.2, 0.5, 0.9], [0.4, 0.4, 0.4], [10, 20, 30])
    assert fit.slope == pytest.approx(0.0, abs=1e-12) and fit.r_squared is None


def test_the_plot_draws_the_weighted_line_and_sizes_cells_by_their_humans():
    cells = comparison_cells(rows(CELLS))
    fit = simulated_on_human(cells)
    figure = plots.regression_figure(cells, fit)
    points, line = figure["data"]
    assert len(points["x"]) == 5
    sizes = points["marker"]["size"]
    assert sizes[points["x"].index(50 / 60)] > sizes[points["x"].index(10 / 40)]
    assert line["y"] == [fit.intercept, fit.intercept + fit.slope]
    # No fit: the points alone.
    few = comparison_cells(rows(CELLS[:2]))
    assert len(plots.regression_figure(few, simulated_on_human(few))["data"]) == 1


def test_each_measure_carries_its_own_n():
    """An imported model-alone run asked only about conditions: its disposition share is
    empty with n 0, its conditions share stands beside its own n."""
    cell = comparison_cells(
        [
            {
                "source": "model_alone",
                "arm": "gpt",
                "scenario": "s1",
                "n": 0,
                "exact": 0,
                "conditions_n": 20,
                "conditions_correct": 19,
            }
        ]
    )[0].as_dict()
    assert cell["disposition_model_alone"] is None and cell["n_model_alone"] == 0
    assert cell["conditions_model_alone"] == 0.95 and cell["n_conditions_model_alone"] == 20
