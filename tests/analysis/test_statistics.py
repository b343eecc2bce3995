"""The statistics module against scipy and statsmodels called directly, and its edges."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from studyapp.analysis.statistics import (
    Proportion,
    bonferroni,
    bootstrap_ci,
    compare_proportions,
    logistic_regression,
    mann_whitney,
    wilson,
)


def test_wilson_matches_statsmodels():
    p = wilson(568, 600)
    low, high = proportion_confint(568, 600, alpha=0.05, method="wilson")
    assert (p.successes, p.n, p.value) == (568, 600, 568 / 600)
    assert (p.ci_low, p.ci_high) == pytest.approx((low, high), abs=1e-12)
    low99, high99 = proportion_confint(568, 600, alpha=0.01, method="wilson")
    assert (wilson(568, 600, alpha=0.01).ci_low) == pytest.approx(low99)
    assert wilson(568, 600, alpha=0.01).ci_high == pytest.approx(high99)


def test_a_proportion_of_nothing_has_no_value():
    assert wilson(0, 0) == Proportion(successes=0, n=0, value=None, ci_low=None, ci_high=None)
    assert wilson(0, 0).as_dict() == {
        "n": 0,
        "successes": 0,
        "value": None,
        "ci_low": None,
        "ci_high": None,
    }


def test_wilson_refuses_more_successes_than_trials():
    with pytest.raises(ValueError):
        wilson(3, 2)


@given(successes=st.integers(0, 500), extra=st.integers(0, 500))
def test_the_wilson_interval_holds_the_estimate(successes, extra):
    n = successes + extra
    p = wilson(successes, n)
    if n == 0:
        assert p.value is None
    else:
        assert 0 <= p.ci_low <= p.value <= p.ci_high <= 1


def test_bootstrap_matches_scipy_percentile_with_the_same_seed():
    outcomes = [True] * 70 + [False] * 30
    ours = bootstrap_ci(outcomes, n_resamples=2000, seed=7)
    theirs = stats.bootstrap(
        (np.array(outcomes, dtype=float),),
        np.mean,
        n_resamples=2000,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(7),
    ).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high))
    assert ours[0] < 0.7 < ours[1]


def test_bootstrap_is_reproducible_and_handles_edges():
    outcomes = [True, False, True, True]
    assert bootstrap_ci(outcomes, seed=1) == bootstrap_ci(outcomes, seed=1)
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([True]) is None
    assert bootstrap_ci([True] * 10) == (1.0, 1.0)


def test_compare_proportions_matches_scipy_and_statsmodels():
    table = np.array([[568, 32], [200, 400]])
    c = compare_proportions(568, 600, 200, 600)
    chi = stats.chi2_contingency(table, correction=False)
    assert (c.chi2, c.chi2_p) == pytest.approx((chi.statistic, chi.pvalue))
    assert c.fisher_p == pytest.approx(stats.fisher_exact(table).pvalue)
    t22 = Table2x2(table)
    assert c.odds_ratio == pytest.approx(t22.oddsratio)
    assert (c.or_ci_low, c.or_ci_high) == pytest.approx(tuple(t22.oddsratio_confint()))
    assert c.odds_ratio == pytest.approx((568 / 32) / (200 / 400))


def test_a_chi_square_with_one_degree_of_freedom_has_no_continuity_correction():
    c = compare_proportions(30, 100, 45, 100)
    corrected = stats.chi2_contingency(np.array([[30, 70], [45, 55]]), correction=True)
    assert c.chi2 != pytest.approx(corrected.statistic)
    assert c.chi2 == pytest.approx(
        stats.chi2_contingency(np.array([[30, 70], [45, 55]]), correction=False).statistic
    )


def test_a_perfect_arm_still_gets_a_finite_odds_ratio():
    c = compare_proportions(100, 100, 50, 100)
    shifted = np.array([[100.5, 0.5], [50.5, 50.5]])
    assert c.odds_ratio == pytest.approx((100.5 * 50.5) / (0.5 * 50.5))
    assert c.odds_ratio == pytest.approx(Table2x2(shifted, shift_zeros=False).oddsratio)
    assert c.chi2 is not None and c.fisher_p is not None


def test_comparisons_without_data_are_empty_not_errors():
    assert compare_proportions(0, 0, 5, 10).as_dict() == dict.fromkeys(
        ["chi2", "chi2_p", "fisher_p", "odds_ratio", "or_ci_low", "or_ci_high"]
    )
    # Every answer correct in both groups: no χ² (a column of zeros), Fisher p = 1.
    both_perfect = compare_proportions(10, 10, 10, 10)
    assert both_perfect.chi2 is None
    assert both_perfect.fisher_p == 1.0


def test_mann_whitney_matches_scipy_and_gives_the_common_language_effect():
    a = [4, 3, 3, 2, 4, 1, 3]
    b = [2, 2, 1, 3, 0, 1]
    result = mann_whitney(a, b)
    theirs = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert (result.u, result.p) == pytest.approx((theirs.statistic, theirs.pvalue))
    pairs = [(x > y) + 0.5 * (x == y) for x in a for y in b]
    assert result.f == pytest.approx(sum(pairs) / len(pairs))
    assert mann_whitney([], b).as_dict() == {"u": None, "p": None, "f": None}


def test_bonferroni_matches_statsmodels_and_caps_at_one():
    pvalues = [0.001, 0.02, 0.3, 0.04]
    assert bonferroni(pvalues) == pytest.approx(
        list(multipletests(pvalues, method="bonferroni")[1])
    )
    assert bonferroni(pvalues) == pytest.approx([0.004, 0.08, 1.0, 0.16])
    assert bonferroni([]) == []


def _rows(seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    rate = {"control": 0.35, "gpt": 0.6, "llama": 0.5}
    shift = {"s1": 0.0, "s2": -0.1, "s3": 0.15}
    return [
        {"correct": rng.random() < rate[arm] + shift[scenario], "arm": arm, "scenario": scenario}
        for arm in rate
        for scenario in shift
        for _ in range(60)
    ]


def test_logistic_regression_matches_statsmodels():
    rows = _rows()
    result = logistic_regression(rows, reference={"arm": "control", "scenario": "s1"})
    frame = pd.DataFrame(rows).assign(correct=lambda d: d["correct"].astype(int))
    fit = smf.logit(
        "correct ~ C(arm, Treatment('control')) + C(scenario, Treatment('s1'))", frame
    ).fit(disp=0)
    assert result.reason is None
    assert result.n == len(rows)
    assert [c.term for c in result] == [
        "Intercept",
        "arm[T.gpt]",
        "arm[T.llama]",
        "scenario[T.s2]",
        "scenario[T.s3]",
    ]
    conf = fit.conf_int()
    for coefficient, name in zip(result, fit.params.index, strict=True):
        assert coefficient.estimate == pytest.approx(fit.params[name])
        assert coefficient.odds_ratio == pytest.approx(math.exp(fit.params[name]))
        assert coefficient.ci_low == pytest.approx(math.exp(conf.loc[name, 0]))
        assert coefficient.ci_high == pytest.approx(math.exp(conf.loc[name, 1]))
        assert coefficient.p == pytest.approx(fit.pvalues[name])


def test_the_reference_level_defaults_to_the_first_in_sorted_order():
    result = logistic_regression(_rows())
    assert [c.term for c in result][1:3] == ["arm[T.gpt]", "arm[T.llama]"]
    other = logistic_regression(_rows(), reference={"arm": "gpt"})
    assert [c.term for c in other][1:3] == ["arm[T.control]", "arm[T.llama]"]


def test_a_factor_with_one_level_is_left_out():
    rows = [row for row in _rows() if row["scenario"] == "s1"]
    assert [c.term for c in logistic_regression(rows)] == [
        "Intercept",
        "arm[T.gpt]",
        "arm[T.llama]",
    ]


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([], "no data"),
        ([{"correct": True, "arm": "a", "scenario": "s"}] * 5, "every outcome is the same"),
        (
            [
                {"correct": arm == "b", "arm": arm, "scenario": s}
                for arm in "ab"
                for s in ("s1", "s2")
                for _ in range(10)
            ],
            "perfect separation",
        ),
        (
            [{"correct": i % 2 == 0, "arm": f"a{i}", "scenario": "s"} for i in range(4)],
            "4 rows for 4 parameters",
        ),
    ],
)
def test_a_model_that_cannot_be_fitted_gives_a_reason_instead_of_an_error(rows, reason):
    result = logistic_regression(rows)
    assert list(result) == []
    assert result.reason is not None and result.reason.startswith(reason)


def test_an_unknown_reference_level_is_reported():
    result = logistic_regression(_rows(), reference={"arm": "nope"})
    assert list(result) == [] and "nope" in result.reason
