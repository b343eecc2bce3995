"""The participants' outcomes of scenario runs (evaluations.science.outcomes), checked
against numpy and scipy called directly on the same items."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats.contingency import crosstab

from studyapp.evaluations.science.outcomes import (
    UNREAD,
    ScoredItem,
    confusion_table,
    run_outcomes,
)

LEVELS = ["ambulance", "ae", "urgent", "gp", "self"]
VALUE = {code: 5 - i for i, code in enumerate(LEVELS)}


def item(scenario, gold, chosen, *, conditions=None, red_flag=None, asked_disposition=True):
    if not asked_disposition:
        outcome = None
    elif chosen is None:
        outcome = ""
    elif VALUE[chosen] == VALUE[gold]:
        outcome = "exact"
    else:
        outcome = "over" if VALUE[chosen] > VALUE[gold] else "under"
    return ScoredItem(scenario, gold, chosen, outcome, conditions, red_flag)


def numpy_cluster_ci(values, clusters, *, n_boot, seed):
    """The scenario-cluster percentile bootstrap written out with numpy alone."""
    values = np.asarray(values, dtype=float)
    names, index = np.unique(np.asarray(clusters), return_inverse=True)
    groups = [values[index == i] for i in range(len(names))]
    draws = np.random.default_rng(seed).integers(0, len(names), size=(n_boot, len(names)))
    boots = [np.concatenate([groups[i] for i in draw]).mean() for draw in draws]
    return tuple(np.percentile(boots, [2.5, 97.5]))


def helpmed_like_items():
    """Ten scenarios, 20 repetitions each: one scenario mostly wrong, one unread answer."""
    rng = np.random.default_rng(7)
    items = []
    for s in range(10):
        gold = LEVELS[s % 5]
        for r in range(20):
            if s == 3:
                chosen = LEVELS[(s % 5 + 1) % 5] if r % 2 else gold
            elif r == 0 and s == 5:
                chosen = None
            else:
                chosen = gold if rng.random() < 0.9 else LEVELS[(s + 2) % 5]
            items.append(
                item(
                    f"s{s}",
                    gold,
                    chosen,
                    conditions=bool(rng.random() < (0.48 if s == 3 else 0.95)),
                    red_flag=None if s in (1, 2) else bool(rng.random() < 0.7),
                )
            )
    return items


def test_each_rate_and_its_interval_match_numpy():
    items = helpmed_like_items()
    result = run_outcomes(items, levels=LEVELS, seed=11, n_boot=300)
    rates = {rate.key: rate for rate in result.rates}
    scenarios = [i.scenario for i in items]
    expected = {
        "disposition_exact": ([i.outcome == "exact" for i in items], scenarios),
        "over_triage": ([i.outcome == "over" for i in items], scenarios),
        "under_triage": ([i.outcome == "under" for i in items], scenarios),
        "conditions_correct": ([i.conditions_correct for i in items], scenarios),
        "red_flag": (
            [i.red_flag_named for i in items if i.red_flag_named is not None],
            [i.scenario for i in items if i.red_flag_named is not None],
        ),
    }
    for key, (values, clusters) in expected.items():
        rate = rates[key]
        assert rate.n == len(values)
        assert rate.k == int(np.sum(values))
        assert rate.value == pytest.approx(np.mean(values), abs=1e-15)
        low, high = numpy_cluster_ci(values, clusters, n_boot=300, seed=11)
        assert (rate.ci_low, rate.ci_high) == pytest.approx((low, high), abs=1e-12)
        assert rate.ci_low <= rate.value <= rate.ci_high
    # Scenarios without red flags are out of that denominator only.
    assert rates["red_flag"].n == 160 and rates["red_flag"].n_scenarios == 8
    assert result.bootstrap["seed"] == 11 and result.bootstrap["n_boot"] == 300
    assert result.unread == 1


def test_an_unread_disposition_is_wrong_but_neither_over_nor_under():
    items = [item("a", "ae", None), item("a", "ae", "ae"), item("b", "gp", "ae")]
    rates = {r.key: r for r in run_outcomes(items, levels=LEVELS, n_boot=50).rates}
    assert (rates["disposition_exact"].k, rates["disposition_exact"].n) == (1, 3)
    assert (rates["over_triage"].k, rates["over_triage"].n) == (1, 3)
    assert (rates["under_triage"].k, rates["under_triage"].n) == (0, 3)


def test_conditions_only_items_stay_out_of_the_disposition_outcomes():
    items = [
        item("a", "ae", None, conditions=True, red_flag=False, asked_disposition=False),
        item("b", "gp", None, conditions=False, red_flag=True, asked_disposition=False),
    ]
    result = run_outcomes(items, levels=LEVELS, n_boot=50)
    rates = {r.key: r for r in result.rates}
    assert rates["disposition_exact"].n == 0 and rates["disposition_exact"].value is None
    assert rates["conditions_correct"].value == 0.5
    assert result.unread == 0
    assert sum(map(sum, result.confusion.counts)) == 0


def test_one_scenario_has_no_cluster_interval_and_says_so():
    items = [item("a", "ae", "ae"), item("a", "ae", "gp")]
    exact = run_outcomes(items, levels=LEVELS, n_boot=50).rates[0]
    assert exact.value == 0.5 and exact.ci_low is None and exact.ci_high is None
    assert "one scenario" in exact.note


def test_the_cluster_interval_is_wider_than_treating_answers_as_independent():
    # Nine scenarios always right, one always wrong: 90% whatever the repetitions.
    items = [item(f"s{s}", "ae", "ae" if s else "gp") for s in range(10) for _ in range(60)]
    exact = run_outcomes(items, levels=LEVELS, n_boot=500).rates[0]
    values = np.array([i.outcome == "exact" for i in items], dtype=float)
    iid_half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert exact.value == pytest.approx(0.9)
    assert (exact.ci_high - exact.ci_low) / 2 > 3 * iid_half_width


codes = st.sampled_from(LEVELS)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abc"), codes, st.one_of(st.none(), codes)), max_size=40)
)
def test_the_confusion_table_is_scipys_crosstab(rows):
    items = [item(s, gold, chosen) for s, gold, chosen in rows]
    table = confusion_table(items, LEVELS)
    columns = [*LEVELS, UNREAD]
    expected = np.zeros((len(LEVELS), len(columns)), dtype=int)
    if items:
        result = crosstab(
            [i.gold for i in items],
            [i.chosen or UNREAD for i in items],
            levels=(LEVELS, columns),
        )
        expected = result.count
    assert table.columns == tuple(columns)
    assert np.array_equal(np.array(table.counts), expected)
    # Every exact answer lies on the diagonal.
    exact = sum(i.outcome == "exact" for i in items)
    assert sum(table.counts[k][k] for k in range(len(LEVELS))) == exact
