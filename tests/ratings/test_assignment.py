"""Dealing items out to raters: balanced, double-rated by distinct raters, deterministic."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studyapp.ratings.assignment import double_count, plan_assignments


@settings(max_examples=200, deadline=None)
@given(
    n_items=st.integers(0, 60),
    n_raters=st.integers(2, 6),
    share=st.floats(0, 1),
    per_double=st.integers(2, 3),
    seed=st.integers(0, 2**62),
)
def test_every_plan_is_balanced_and_double_items_get_distinct_raters(
    n_items, n_raters, share, per_double, seed
):
    if per_double > n_raters:
        per_double = n_raters
    items = list(range(100, 100 + n_items))
    raters = list(range(1, n_raters + 1))
    plan = plan_assignments(
        item_ids=items,
        rater_ids=raters,
        double_share=share,
        seed=seed,
        raters_per_double=per_double,
    )
    assert len(plan.double) == double_count(n_items, share)
    loads = [len(queue) for queue in plan.queues.values()]
    assert max(loads) - min(loads) <= 1
    per_item = Counter(item for queue in plan.queues.values() for item in queue)
    for item in items:
        assert per_item[item] == (per_double if item in plan.double else 1)
    for queue in plan.queues.values():
        assert len(set(queue)) == len(queue)  # a rater never gets an item twice


def test_the_same_seed_deals_the_same_way_and_another_differently():
    args = {"item_ids": list(range(40)), "rater_ids": [7, 8, 9], "double_share": 0.25}
    assert plan_assignments(seed=1, **args) == plan_assignments(seed=1, **args)
    assert plan_assignments(seed=1, **args) != plan_assignments(seed=2, **args)


def test_each_rater_sees_the_shared_items_in_an_order_of_their_own():
    plan = plan_assignments(item_ids=list(range(30)), rater_ids=[1, 2], double_share=1, seed=5)
    assert sorted(plan.queues[1]) == sorted(plan.queues[2]) == list(range(30))
    assert plan.queues[1] != plan.queues[2]


def test_a_share_rounds_half_up():
    assert double_count(10, 0.25) == 3  # 2.5 -> 3, where round() would give 2
    assert double_count(4, 0.2) == 1
    assert double_count(3, 1.0) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"double_share": 1.5}, "between 0 and 1"),
        ({"rater_ids": []}, "at least one rater"),
        ({"rater_ids": [1], "double_share": 0.5}, "needs 2 raters"),
    ],
)
def test_impossible_plans_are_refused(kwargs, message):
    args = {"item_ids": [1, 2], "rater_ids": [1, 2], "double_share": 0.5, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        plan_assignments(**args)
