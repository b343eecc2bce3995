"""The inference library against numpy, scipy and statsmodels called directly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from studyapp.analysis.inference import (
    HALDANE_NOTE,
    auroc,
    brier,
    cluster_bootstrap_ci,
    gee_logistic,
    holm,
    reliability_curve,
    two_by_two,
)
from studyapp.analysis.statistics import bootstrap_ci, mann_whitney

# --- two_by_two -------------------------------------------------------------------------


def test_a_large_table_uses_chi_square_and_matches_scipy_and_statsmodels():
    result = two_by_two(120, 200, 90, 210)
    table = np.array([[120, 80], [90, 120]])
    chi2 = stats.chi2_contingency(table, correction=False)
    low, high = Table2x2(table).oddsratio_confint(method="normal")
    rd_low, rd_high = confint_proportions_2indep(
        120, 200, 90, 210, method="newcomb", compare="diff"
    )
    assert result.test == "chi2"
    assert result.p == pytest.approx(chi2.pvalue)
    assert result.chi2_p == pytest.approx(chi2.pvalue)
    assert result.fisher_p == pytest.approx(stats.fisher_exact(table).pvalue)
    assert result.odds_ratio == pytest.approx((120 * 120) / (80 * 90))
    assert (result.or_ci_low, result.or_ci_high) == pytest.approx((low, high))
    assert result.risk_difference == pytest.approx(120 / 200 - 90 / 210)
    assert (result.rd_ci_low, result.rd_ci_high) == pytest.approx((rd_low, rd_high))
    assert result.min_expected == pytest.approx(stats.contingency.expected_freq(table).min())
    assert result.note == ""


def test_an_expected_count_below_five_uses_fisher():
    # Expected counts: 4.5 in the failure column (9 failures over 36 answers, 18 per arm).
    result = two_by_two(15, 18, 12, 18)
    assert result.min_expected == pytest.approx(4.5)
    assert result.test == "fisher"
    assert result.p == pytest.approx(stats.fisher_exact([[15, 3], [12, 6]]).pvalue)
    assert result.chi2_p is not None and result.chi2_p != result.p
    # Exactly five expected in every cell is enough for χ².
    assert two_by_two(5, 10, 5, 10).test == "chi2"


def test_a_zero_cell_gets_the_haldane_anscombe_correction_and_says_so():
    result = two_by_two(20, 20, 15, 20)
    corrected = Table2x2(np.array([[20.5, 0.5], [15.5, 5.5]]), shift_zeros=False)
    assert result.odds_ratio == pytest.approx(corrected.oddsratio)
    assert (result.or_ci_low, result.or_ci_high) == pytest.approx(corrected.oddsratio_confint())
    assert result.note == HALDANE_NOTE
    assert result.test == "fisher"
    rd_low, rd_high = confint_proportions_2indep(20, 20, 15, 20, method="newcomb", compare="diff")
    assert (result.rd_ci_low, result.rd_ci_high) == pytest.approx((rd_low, rd_high))


def test_an_empty_column_has_no_chi_square_and_falls_to_fisher():
    result = two_by_two(10, 10, 12, 12)
    assert (result.test, result.chi2_p, result.p, result.risk_difference) == (
        "fisher",
        None,
        1.0,
        0.0,
    )


def test_an_arm_without_data_gives_an_empty_contrast():
    result = two_by_two(0, 0, 3, 10)
    assert result.as_dict()["p"] is None and result.odds_ratio is None
    assert result.note == "an arm has no data"


@given(
    a=st.integers(0, 40),
    a_extra=st.integers(1, 40),
    b=st.integers(0, 40),
    b_extra=st.integers(1, 40),
)
def test_the_stated_rule_picks_the_test(a, a_extra, b, b_extra):
    result = two_by_two(a, a + a_extra, b, b + b_extra)
    table = np.array([[a, a_extra], [b, b_extra]])
    fisher = stats.contingency.expected_freq(table).min() < 5
    assert result.test == ("fisher" if fisher else "chi2")
    assert result.p == (result.fisher_p if fisher else result.chi2_p)
    assert result.rd_ci_low <= result.risk_difference <= result.rd_ci_high


# --- holm -------------------------------------------------------------------------------


def test_holm_matches_statsmodels():
    pvalues = [0.01, 0.04, 0.03, 0.005, 0.6]
    assert holm(pvalues) == pytest.approx(list(multipletests(pvalues, method="holm")[1]))
    # By hand: sorted 0.005, 0.01, 0.03, 0.04, 0.6 times 5, 4, 3, 2, 1, kept monotone.
    assert holm(pvalues) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.6])
    assert holm([]) == []


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_is_never_above_bonferroni_nor_below_the_raw_p(pvalues):
    bonferroni = multipletests(pvalues, method="bonferroni")[1]
    for raw, adjusted, bonf in zip(pvalues, holm(pvalues), bonferroni, strict=True):
        assert raw <= adjusted + 1e-12 and adjusted <= bonf + 1e-12


# --- cluster_bootstrap_ci ---------------------------------------------------------------


def test_the_cluster_bootstrap_matches_a_hand_computed_reference():
    # Two clusters: a = [0, 0], b = [1, 1, 1, 1]. A resample is aa (mean 0), bb (mean 1)
    # or ab/ba (pooled mean 4/6). The draw is rng.integers(0, 2, size=(n_boot, 2)).
    values = [0, 1, 0, 1, 1, 1]
    clusters = ["a", "b", "a", "b", "b", "b"]
    by_pair = {(0, 0): 0.0, (1, 1): 1.0, (0, 1): 4 / 6, (1, 0): 4 / 6}
    draws = np.random.default_rng(3).integers(0, 2, size=(8, 2))
    boots = sorted(by_pair[tuple(int(i) for i in draw)] for draw in draws)
    # Percentiles by linear interpolation between order statistics (numpy's default):
    # position q·(n-1) in the sorted resamples.
    expected = []
    for q in (0.025, 0.975):
        pos = q * (len(boots) - 1)
        lo = math.floor(pos)
        expected.append(boots[lo] + (pos - lo) * (boots[min(lo + 1, 7)] - boots[lo]))
    assert cluster_bootstrap_ci(values, clusters, n_boot=8, seed=3) == pytest.approx(
        tuple(expected)
    )


def test_the_cluster_bootstrap_is_reproducible_and_ignores_row_order():
    rng = np.random.default_rng(5)
    values = list(rng.normal(size=40))
    clusters = [i % 8 for i in range(40)]
    first = cluster_bootstrap_ci(values, clusters, seed=11)
    assert first == cluster_bootstrap_ci(values, clusters, seed=11)
    assert first != cluster_bootstrap_ci(values, clusters, seed=12)
    # Clusters are taken in sorted order, so the order of the rows does not matter.
    assert cluster_bootstrap_ci(values[::-1], clusters[::-1], seed=11) == pytest.approx(first)
    median = cluster_bootstrap_ci(values, clusters, stat=np.median, n_boot=200)
    assert median[0] < np.median(values) < median[1]


def test_the_cluster_bootstrap_is_wider_than_the_iid_one_on_clustered_data():
    rng = np.random.default_rng(0)
    values, clusters = [], []
    for participant in range(20):
        p = rng.beta(1, 1)  # each participant has their own accuracy
        values += list(rng.random(15) < p)
        clusters += [participant] * 15
    iid = bootstrap_ci(values, n_resamples=2000, seed=0)
    clustered = cluster_bootstrap_ci(values, clusters, seed=0)
    assert clustered[0] < np.mean(values) < clustered[1]
    assert clustered[1] - clustered[0] > 1.5 * (iid[1] - iid[0])


def test_the_cluster_bootstrap_needs_two_clusters():
    assert cluster_bootstrap_ci([], []) is None
    assert cluster_bootstrap_ci([1, 0, 1], ["p", "p", "p"]) is None
    with pytest.raises(ValueError):
        cluster_bootstrap_ci([1, 0], ["p"])


# --- mann_whitney (statistics) ----------------------------------------------------------


@given(
    a=st.lists(st.integers(0, 5), min_size=1, max_size=15),
    b=st.lists(st.integers(0, 5), min_size=1, max_size=15),
)
def test_mann_whitney_f_is_u_over_n1_n2_and_p_is_scipys(a, b):
    result = mann_whitney(a, b)
    theirs = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert result.u == pytest.approx(theirs.statistic)
    assert result.f == pytest.approx(theirs.statistic / (len(a) * len(b)))
    if math.isfinite(theirs.pvalue):
        assert result.p == pytest.approx(theirs.pvalue)
    else:
        assert result.p is None


# --- calibration ------------------------------------------------------------------------

CONFIDENCE = [90, 80, 70, 100, 60, 50, 40, 85, 30, 95, 70, 55]
CORRECT = [1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0]


def test_brier_is_the_mean_squared_error_of_confidence():
    expected = sum((c / 100 - y) ** 2 for c, y in zip(CONFIDENCE, CORRECT, strict=True)) / 12
    assert brier(CONFIDENCE, CORRECT) == pytest.approx(expected)
    assert brier([50, 50], [True, False]) == pytest.approx(0.25)
    assert brier([], []) is None
    with pytest.raises(ValueError):
        brier([101], [True])


def test_auroc_is_mann_whitney_u_over_n1_n0_and_the_pairwise_probability():
    right = [c for c, y in zip(CONFIDENCE, CORRECT, strict=True) if y]
    wrong = [c for c, y in zip(CONFIDENCE, CORRECT, strict=True) if not y]
    u = stats.mannwhitneyu(right, wrong, alternative="two-sided").statistic
    assert auroc(CONFIDENCE, CORRECT) == pytest.approx(u / (len(right) * len(wrong)))
    pairs = [(r > w) + 0.5 * (r == w) for r in right for w in wrong]
    assert auroc(CONFIDENCE, CORRECT) == pytest.approx(sum(pairs) / len(pairs))
    assert auroc([10, 20], [True, True]) is None
    assert auroc([50, 50], [True, False]) == 0.5


def test_the_reliability_curve_matches_scipy_binned_statistics():
    curve = reliability_curve(CONFIDENCE, CORRECT, bins=5)
    edges = np.linspace(0, 100, 6)
    counts = stats.binned_statistic(CONFIDENCE, CORRECT, "count", bins=edges).statistic
    means = stats.binned_statistic(CONFIDENCE, CONFIDENCE, "mean", bins=edges).statistic
    accuracy = stats.binned_statistic(CONFIDENCE, CORRECT, "mean", bins=edges).statistic
    assert curve.edges == pytest.approx(tuple(edges))
    assert [b.n for b in curve.bins] == list(counts)
    for row, mean, acc in zip(curve.bins, means, accuracy, strict=True):
        if np.isnan(mean):
            assert (row.mean_confidence, row.accuracy) == (None, None)
        else:
            assert (row.mean_confidence, row.accuracy) == pytest.approx((mean, acc))
    # 100 falls in the last bin, 0 in the first, a bin edge in the bin above it.
    curve = reliability_curve([0, 10, 100], [False, True, True])
    assert [b.n for b in curve.bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert curve.as_dict()["bins"][2] == {
        "low": 20.0,
        "high": 30.0,
        "n": 0,
        "mean_confidence": None,
        "accuracy": None,
    }


# --- gee_logistic -----------------------------------------------------------------------


def study_rows(seed: int = 1, participants: int = 45) -> list[dict]:
    rng = np.random.default_rng(seed)
    effects = {"control": 0.0, "llm": 0.8, "search": 0.3}
    difficulty = {"s1": 0.0, "s2": 0.6, "s3": -0.6}
    rows = []
    for p in range(participants):
        arm = list(effects)[p % 3]
        frailty = rng.normal(0, 1)
        for scenario, d in difficulty.items():
            logit = -0.2 + effects[arm] + d + frailty
            correct = rng.random() < 1 / (1 + math.exp(-logit))
            rows.append(
                {"participant": f"p{p}", "arm": arm, "scenario": scenario, "correct": correct}
            )
    return rows


def direct_gee(rows: list[dict], reference: str):
    data = pd.DataFrame(rows).assign(correct=lambda d: d["correct"].astype(int))
    return smf.gee(
        f"correct ~ C(arm, Treatment(reference={reference!r})) + C(scenario)",
        groups="participant",
        data=data,
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    ).fit()


def test_gee_matches_statsmodels_called_directly():
    rows = study_rows()
    result = gee_logistic(rows, reference="control")
    theirs = direct_gee(rows, "control")
    conf = theirs.conf_int()
    assert result.fallback_reason is None
    assert (result.n, result.n_clusters, result.reference) == (135, 45, "control")
    assert [a.arm for a in result.arms] == ["llm", "search"]
    for effect in result.arms:
        name = f"C(arm, Treatment(reference='control'))[T.{effect.arm}]"
        assert effect.odds_ratio == pytest.approx(math.exp(theirs.params[name]))
        assert (effect.ci_low, effect.ci_high) == pytest.approx(tuple(np.exp(conf.loc[name])))
        assert effect.p == pytest.approx(theirs.pvalues[name])
    assert result.as_dict()["arms"][0]["arm"] == "llm"


def test_gee_takes_the_named_reference_arm():
    rows = study_rows()
    result = gee_logistic(rows, reference="llm")
    theirs = direct_gee(rows, "llm")
    name = "C(arm, Treatment(reference='llm'))[T.control]"
    assert [a.arm for a in result.arms] == ["control", "search"]
    assert result.arms[0].odds_ratio == pytest.approx(math.exp(theirs.params[name]))


def test_gee_leaves_out_a_scenario_where_every_outcome_is_the_same():
    rows = [{**row, "correct": True} if row["scenario"] == "s1" else row for row in study_rows()]
    result = gee_logistic(rows, reference="control")
    theirs = direct_gee([row for row in rows if row["scenario"] != "s1"], "control")
    assert result.fallback_reason is None
    assert result.note == "left out, every outcome the same: scenario s1"
    assert result.n == 90
    name = "C(arm, Treatment(reference='control'))[T.llm]"
    assert result.arms[0].odds_ratio == pytest.approx(math.exp(theirs.params[name]))


# Two arms and three scenarios (4 parameters), each with both outcomes, 4 participants.
FOUR_PARTICIPANTS = [
    {"participant": p, "arm": arm, "scenario": s, "correct": bool(int(c))}
    for p, arm, outcomes in [
        ("p0", "control", "101"),
        ("p1", "control", "010"),
        ("p2", "llm", "101"),
        ("p3", "llm", "011"),
    ]
    for s, c in zip(["s1", "s2", "s3"], outcomes, strict=True)
]


def _all_correct_in(arm: str):
    return [{**row, "correct": True} if row["arm"] == arm else row for row in study_rows()]


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([], "no data"),
        ([{**row, "correct": False} for row in study_rows()], "every outcome is the same"),
        (
            [row for row in study_rows() if row["arm"] == "control"],
            "one arm only",
        ),
        (
            _all_correct_in("llm"),
            "perfect separation: every outcome in arm 'llm' is the same",
        ),
        (
            [{**row, "participant": "p"} for row in study_rows()],
            "a single cluster: GEE needs several participants",
        ),
        (FOUR_PARTICIPANTS, "4 clusters for 4 parameters"),
        (
            study_rows()[:4],  # too few rows: here every control answer is wrong
            "perfect separation: every outcome in arm 'control' is the same",
        ),
    ],
)
def test_gee_gives_a_fallback_reason_instead_of_raising(rows, reason):
    result = gee_logistic(rows, reference="control")
    assert (result.fallback_reason, result.arms) == (reason, ())


def test_gee_reports_an_unknown_reference_arm():
    result = gee_logistic(study_rows(), reference="placebo")
    assert result.fallback_reason == "reference arm 'placebo' has no data"
