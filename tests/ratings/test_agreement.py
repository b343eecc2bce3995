"""ratings.agreement against hand-computed values and the libraries called directly."""

from __future__ import annotations

import warnings

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from studyapp.ratings import agreement


def two_raters(pairs):
    return [(i, {"a": a, "b": b}) for i, (a, b) in enumerate(pairs)]


def test_cohens_kappa_matches_the_hand_computed_value_and_statsmodels():
    # 20 both yes, 5 A only, 10 B only, 15 both no: po 0.7, pe 0.5, kappa 0.4.
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    estimate = agreement.cohens_kappa(pairs)
    assert estimate.value == pytest.approx(0.4)
    reference = sm_cohens_kappa(np.array([[15, 10], [5, 20]]))
    assert (estimate.low, estimate.high) == pytest.approx(
        (reference.kappa_low, reference.kappa_upp)
    )
    assert estimate.low == pytest.approx(0.4 - 1.959964 * reference.std_kappa)
    assert estimate.n == 50


def test_fleiss_kappa_of_three_units_by_hand():
    # Counts [2,0], [1,1], [0,2]: mean agreement 2/3, chance 1/2, kappa 1/3.
    units = [(1, {"a": 1, "b": 1}), (2, {"a": 1, "b": 0}), (3, {"a": 0, "b": 0})]
    estimate = agreement.fleiss_kappa(units, resamples=200)
    assert estimate.value == pytest.approx(1 / 3)
    assert sm_fleiss_kappa(np.array([[0, 2], [1, 1], [2, 0]])) == pytest.approx(1 / 3)
    assert estimate.n == 3


def test_krippendorffs_alpha_of_three_units_by_hand():
    # Coincidences: o11 = 2, o00 = 2, o01 = o10 = 1; n = 6, n0 = n1 = 3.
    # Do = 2/6, De = 2*3*3/(6*5) = 0.6: alpha = 1 - (1/3)/0.6 = 4/9.
    units = [(1, {"a": 1, "b": 1}), (2, {"a": 1, "b": 0}), (3, {"a": 0, "b": 0})]
    assert agreement.krippendorff_alpha(units, resamples=0).value == pytest.approx(4 / 9)


def test_the_worked_example_of_the_browser_test():
    # 9 units (3 answers x 3 gold terms): 3 both named, 5 neither, 1 only R1.
    units = two_raters([(1, 1)] * 3 + [(0, 0)] * 5 + [(1, 0)])
    result = agreement.rater_agreement(units, resamples=100)
    assert result.cohen.value == pytest.approx(30 / 39)  # po 8/9, pe 42/81
    p1 = 7 / 18
    chance = p1**2 + (1 - p1) ** 2
    assert result.fleiss.value == pytest.approx((8 / 9 - chance) / (1 - chance))
    assert result.alpha.value == pytest.approx(1 - (2 / 18) / (2 * 11 * 7 / (18 * 17)))
    assert result.observed == pytest.approx(8 / 9)


def test_alpha_handles_missing_ratings_and_more_raters_as_the_library_does():
    units = [
        (1, {"a": 1, "b": 1, "c": 1}),
        (2, {"a": 0, "b": 1}),
        (3, {"b": 0, "c": 0}),
        (4, {"a": 1, "b": 1, "c": 0}),
        (5, {"a": 0, "c": 0}),
    ]
    data = np.array(
        [[1, 0, np.nan, 1, 0], [1, 1, 0, 1, np.nan], [1, np.nan, 0, 0, 0]], dtype=float
    )
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert agreement.krippendorff_alpha(units, resamples=0).value == pytest.approx(expected)
    ordinal = krippendorff.alpha(
        reliability_data=data, level_of_measurement="ordinal", value_domain=[0, 1]
    )
    got = agreement.krippendorff_alpha(units, level="ordinal", resamples=0).value
    assert got == pytest.approx(ordinal)


def test_fleiss_uses_the_units_with_the_commonest_number_of_raters():
    units = [
        (1, {"a": 1, "b": 1}),
        (2, {"a": 0, "b": 1}),
        (3, {"a": 0, "b": 0}),
        (4, {"a": 0, "b": 0, "c": 1}),  # the only unit rated thrice: left out
        (5, {"a": 1}),  # rated once: left out
    ]
    estimate = agreement.fleiss_kappa(units, resamples=0)
    assert estimate.n == 3
    assert estimate.value == pytest.approx(sm_fleiss_kappa(np.array([[0, 2], [1, 1], [2, 0]])))
    assert "units rated by 2 raters" in estimate.method


def test_no_data_or_no_variation_gives_none_never_nan():
    assert agreement.cohens_kappa([]).value is None
    assert agreement.fleiss_kappa([], resamples=10).value is None
    assert agreement.krippendorff_alpha([], resamples=10).value is None
    same = two_raters([(1, 1)] * 4)
    assert agreement.cohens_kappa([(1, 1)] * 4).value is None
    assert agreement.fleiss_kappa(same, resamples=10).value is None
    assert agreement.krippendorff_alpha(same, resamples=10).value is None
    empty = agreement.matcher_agreement([])
    assert (empty.precision.value, empty.recall.value, empty.kappa.value) == (None, None, None)


def test_bootstrap_cis_are_seeded_and_contain_the_estimate():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 120)
    flips = rng.random(120) < 0.15
    units = two_raters(zip(truth, np.where(flips, 1 - truth, truth), strict=True))
    first = agreement.fleiss_kappa(units, resamples=300, seed=7)
    again = agreement.fleiss_kappa(units, resamples=300, seed=7)
    other = agreement.fleiss_kappa(units, resamples=300, seed=8)
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)
    assert first.low < first.value < first.high
    alpha = agreement.krippendorff_alpha(units, resamples=300, seed=7)
    assert alpha.low < alpha.value < alpha.high
    assert "300 resamples, seed 7" in alpha.method


def test_the_bootstrap_resamples_items_not_units():
    # Two items of ten identical units each. Resampling whole items gives only three
    # samples: both items (kappa -1/3), "y" twice (-1), "x" twice (undefined, dropped);
    # resampling single units would give many values in between.
    units = [("x", {"a": 1, "b": 1})] * 10 + [("y", {"a": 0, "b": 1})] * 10
    estimate = agreement.fleiss_kappa(units, resamples=200, seed=1)
    assert estimate.value == pytest.approx(-1 / 3)
    assert (estimate.low, estimate.high) == pytest.approx((-1, -1 / 3))


def test_matcher_agreement_by_hand_and_against_statsmodels():
    # tp 3, fp 1, fn 2, tn 4: precision 3/4, recall 3/5; po 0.7, pe 0.5, kappa 0.4.
    units = (
        [(i, True, True) for i in range(3)]
        + [(3, True, False)]
        + [(i, False, True) for i in range(4, 6)]
        + [(i, False, False) for i in range(6, 10)]
    )
    result = agreement.matcher_agreement(units, resamples=200)
    assert (result.tp, result.fp, result.fn, result.tn) == (3, 1, 2, 4)
    assert result.precision.value == pytest.approx(0.75)
    assert (result.precision.low, result.precision.high) == pytest.approx(
        proportion_confint(3, 4, method="wilson")
    )
    assert result.recall.value == pytest.approx(0.6)
    assert (result.recall.low, result.recall.high) == pytest.approx(
        proportion_confint(3, 5, method="wilson")
    )
    assert result.kappa.value == pytest.approx(0.4)
    assert result.kappa.low <= 0.4 <= result.kappa.high


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=2, max_size=40))
def test_two_raters_cohen_equals_statsmodels_and_fleiss_equals_scotts_pi(pairs):
    cohen = agreement.cohens_kappa(pairs).value
    table = np.zeros((2, 2))
    for a, b in pairs:
        table[a, b] += 1
    with np.errstate(all="ignore"):
        expected = sm_cohens_kappa(table, return_results=False)
    assert cohen == (pytest.approx(expected) if np.isfinite(expected) else None)
    fleiss = agreement.fleiss_kappa(two_raters(pairs), resamples=0).value
    n = len(pairs)
    p1 = sum(a + b for a, b in pairs) / (2 * n)
    chance = p1**2 + (1 - p1) ** 2
    observed = sum(a == b for a, b in pairs) / n
    if chance < 1:
        assert fleiss == pytest.approx((observed - chance) / (1 - chance))
        # For two raters, nominal alpha is Scott's pi corrected for sample size.
        alpha = agreement.krippendorff_alpha(two_raters(pairs), resamples=0).value
        assert alpha == pytest.approx(1 - (2 * n - 1) / (2 * n) * (1 - fleiss))
    else:
        assert fleiss is None


# --- The resample statistics are the libraries' formulas -------------------------------


@settings(max_examples=80, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1), st.integers(0, 3)),
        min_size=2,
        max_size=25,
    )
)
def test_each_resample_statistic_equals_the_library_on_the_resampled_data(data):
    """A resample weights each unit by how often its item was drawn; the library applied
    to the data with each unit repeated that often must give the same figure."""
    weights = np.array([w for *_values, w in data])
    if weights.sum() == 0:
        return
    # Three raters per unit (Fleiss needs the same number), binary.
    table = np.array([[3 - (a + b + c), a + b + c] for a, b, c, _w in data], dtype=float)
    repeated = np.repeat(table, weights, axis=0)
    with np.errstate(all="ignore"):
        expected = sm_fleiss_kappa(repeated)
    agreement_i = ((table**2).sum(axis=1) - 3) / 6
    stats = np.column_stack([np.ones(len(table)), agreement_i, table])
    got = agreement._fleiss_from_sums((weights @ stats)[None, :], 3)[0]
    assert (np.isnan(got) and not np.isfinite(expected)) or got == pytest.approx(expected)

    for level in ("nominal", "ordinal"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = krippendorff.alpha(
                    value_counts=repeated, level_of_measurement=level, value_domain=[0, 1]
                )
        except ValueError:
            continue
        pairable = table.sum(axis=1)
        coincidences = (table[:, :, None] * table[:, None, :] - table[:, :, None] * np.eye(2)) / (
            pairable - 1
        )[:, None, None]
        matrix = np.tensordot(weights, coincidences, axes=1)
        got = agreement._alpha_from_coincidences(matrix[None], [0, 1], level)[0]
        if np.isfinite(expected):
            assert got == pytest.approx(expected)

    cells = np.zeros((len(data), 4))
    for row, (a, b, _c, _w) in enumerate(data):
        cells[row, (0 if b else 1) if a else (2 if b else 3)] = 1
    tp, fp, fn, tn = weights @ cells
    with np.errstate(all="ignore"):
        expected = sm_cohens_kappa(np.array([[tp, fn], [fp, tn]]), return_results=False)
    got = agreement._kappa_from_cells((weights @ cells)[None])[0]
    assert (np.isnan(got) and not np.isfinite(expected)) or got == pytest.approx(expected)


def test_resampled_sums_draw_whole_items_with_the_seeded_generator():
    groups = ["a", "a", "b", "c"]
    stats = np.array([[1.0], [2.0], [10.0], [100.0]])
    sums = agreement._resampled_sums(groups, stats, resamples=5, seed=4)
    picks = np.random.default_rng(4).integers(0, 3, size=(5, 3))
    per_item = np.array([3.0, 10.0, 100.0])
    assert sums[:, 0] == pytest.approx(per_item[picks].sum(axis=1))
    assert agreement._resampled_sums(["a", "a"], stats[:2], resamples=5, seed=4) is None
