"""The pure allocation sequence: balance, weights, reproducibility, independence."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studyapp.participation.allocation import (
    Design,
    DesignError,
    Method,
    block_arms,
    design_for,
    imbalance,
    largest_imbalance,
    next_slot,
    slots,
    unbalanced_blocks,
    uniform_below,
)


@st.composite
def block_designs(draw, stratified: bool | None = None):
    n_arms = draw(st.integers(min_value=1, max_value=4))
    weights = draw(st.lists(st.integers(1, 3), min_size=n_arms, max_size=n_arms))
    arms = [(f"arm{i}", w) for i, w in enumerate(weights)]
    total = sum(weights)
    multiples = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True))
    method = (
        draw(st.sampled_from([Method.BLOCKS, Method.STRATIFIED_BLOCKS]))
        if stratified is None
        else (Method.STRATIFIED_BLOCKS if stratified else Method.BLOCKS)
    )
    return design_for(
        method=method,
        arms=arms,
        block_sizes=[m * total for m in multiples],
        seed=draw(st.integers(0, 2**62)),
    )


strata = st.sampled_from(["", "f", "m", "site-2"])


@settings(max_examples=150, deadline=None)
@given(design=block_designs(), stratum=strata, n=st.integers(1, 120))
def test_every_completed_block_holds_each_arm_weight_times_over(design, stratum, n):
    sequence = slots(design, stratum, n)
    assert unbalanced_blocks(design, sequence) == []
    weights = dict(design.arms)
    for _block, members in itertools.groupby(sequence, key=lambda s: s.block):
        members = list(members)
        size = members[0].block_size
        assert size in design.block_sizes
        assert [s.position for s in members] == list(range(1, len(members) + 1))
        if len(members) == size:
            copies = size // design.weight_total
            counts = Counter(s.arm for s in members)
            assert counts == {arm: w * copies for arm, w in weights.items()}


@settings(max_examples=150, deadline=None)
@given(design=block_designs(), stratum=strata, n=st.integers(1, 120))
def test_arms_never_drift_further_apart_than_one_block_allows(design, stratum, n):
    sequence = [s.arm for s in slots(design, stratum, n)]
    largest_copies = max(design.block_sizes) // design.weight_total
    assert largest_imbalance(sequence, dict(design.arms)) <= largest_copies


@settings(max_examples=100, deadline=None)
@given(design=block_designs(), stratum=strata, n=st.integers(1, 60))
def test_the_same_seed_regenerates_the_same_sequence(design, stratum, n):
    block_arms.cache_clear()  # regenerate for real, not from the cache
    first = slots(design, stratum, n)
    block_arms.cache_clear()
    again = slots(Design.from_dict(design.as_dict()), stratum, n)
    assert first == again


@settings(max_examples=100, deadline=None)
@given(design=block_designs(), stratum=strata, n=st.integers(2, 60))
def test_next_slot_continues_from_any_slot_as_the_whole_sequence_does(design, stratum, n):
    sequence = slots(design, stratum, n)
    for previous, following in itertools.pairwise(sequence):
        assert next_slot(design, stratum, previous) == following


def test_a_different_seed_gives_a_different_sequence():
    arms = [("a", 1), ("b", 1)]
    one = design_for(method="blocks", arms=arms, block_sizes=[4, 8], seed=1)
    two = design_for(method="blocks", arms=arms, block_sizes=[4, 8], seed=2)
    assert [s.arm for s in slots(one, "", 200)] != [s.arm for s in slots(two, "", 200)]


def test_strata_have_sequences_of_their_own_and_unstratified_designs_have_one():
    arms = [("a", 1), ("b", 1)]
    stratified = design_for(method="stratified_blocks", arms=arms, block_sizes=[4, 8], seed=5)
    assert [s.arm for s in slots(stratified, "f", 200)] != [
        s.arm for s in slots(stratified, "m", 200)
    ]
    plain = design_for(method="blocks", arms=arms, block_sizes=[4, 8], seed=5)
    assert slots(plain, "f", 50) == slots(plain, "m", 50) == slots(plain, "", 50)


def test_both_block_sizes_are_drawn_about_equally():
    design = design_for(method="blocks", arms=[("a", 1), ("b", 1)], block_sizes=[4, 8], seed=9)
    sizes = Counter(len(block_arms(design, "", b)) for b in range(1, 2001))
    assert set(sizes) == {4, 8}
    # 2,000 fair draws: 1,000 +- 4.5 SD is 1,000 +- 100.
    assert 900 < sizes[4] < 1100


def test_every_order_of_a_block_is_equally_likely():
    design = design_for(method="blocks", arms=[("a", 1), ("b", 1)], block_sizes=[4], seed=3)
    orders = Counter(block_arms(design, "", b) for b in range(1, 6001))
    # C(4, 2) = 6 orders, 1,000 expected each; 4.5 SD is about 130.
    assert len(orders) == 6
    assert all(870 < n < 1130 for n in orders.values())


def test_simple_randomisation_follows_the_weights():
    design = design_for(
        method="simple", arms=[("a", 1), ("b", 3), ("c", 6)], block_sizes=[], seed=7
    )
    n = 30_000
    draws = Counter(s.arm for s in slots(design, "", n))
    # Expected 10% / 30% / 60%; 1.5 points is beyond 8 SD.
    assert abs(draws["a"] / n - 0.1) < 0.015
    assert abs(draws["b"] / n - 0.3) < 0.015
    assert abs(draws["c"] / n - 0.6) < 0.015
    assert {s.block_size for s in slots(design, "", 20)} == {1}


@settings(max_examples=100, deadline=None)
@given(weights=st.lists(st.integers(1, 1000), min_size=1, max_size=8), seed=st.integers(0, 2**62))
def test_simple_randomisation_always_picks_a_real_arm(weights, seed):
    arms = [(f"x{i}", w) for i, w in enumerate(weights)]
    design = design_for(method="simple", arms=arms, block_sizes=[], seed=seed)
    assert {s.arm for s in slots(design, "", 10)} <= set(dict(arms))


@settings(max_examples=200, deadline=None)
@given(bound=st.integers(1, 10**12), parts=st.lists(st.text(max_size=5), max_size=3))
def test_uniform_below_stays_in_range_and_is_deterministic(bound, parts):
    value = uniform_below(bound, *parts)
    assert 0 <= value < bound
    assert uniform_below(bound, *parts) == value


def test_uniform_below_has_no_modulo_bias_for_awkward_bounds():
    # A bound just over 2**63 would put two thirds of the mass on the low half without
    # rejection sampling.
    bound = 2**63 + 2**62
    low = sum(uniform_below(bound, "bias", i) < bound // 2 for i in range(4000))
    assert 1800 < low < 2200


@pytest.mark.parametrize(
    ("arms", "sizes", "message"),
    [
        ([("a", 1), ("b", 1)], [3], "not a positive multiple"),
        ([("a", 2), ("b", 1)], [4, 6], "not a positive multiple"),
        ([], [4], "at least one arm"),
        ([("a", 0), ("b", 1)], [1], "at least 1"),
    ],
)
def test_it_refuses_designs_that_cannot_balance(arms, sizes, message):
    with pytest.raises(DesignError, match=message):
        design_for(method="blocks", arms=arms, block_sizes=sizes, seed=1)


def test_empty_block_sizes_mean_one_or_two_copies_of_the_weights():
    design = design_for(method="blocks", arms=[("a", 2), ("b", 1)], block_sizes=[], seed=1)
    assert design.block_sizes == (3, 6)


def test_imbalance_is_measured_in_units_of_weight():
    assert imbalance({"a": 4, "b": 2}, {"a": 2, "b": 1}) == 0
    assert imbalance({"a": 5, "b": 2}, {"a": 1, "b": 1}) == 3
    assert largest_imbalance(["a", "a", "b", "b"], {"a": 1, "b": 1}) == 2
