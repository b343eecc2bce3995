from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studyapp.participation.allocation import choose_arm


def test_it_respects_the_weights_over_many_draws():
    rng = random.Random(20260101)
    draws = Counter(choose_arm([1, 3, 6], rng) for _ in range(30_000))
    # Expected 10% / 30% / 60%; 30,000 draws put 1.5 points far outside chance (> 8 SD).
    assert abs(draws[0] / 30_000 - 0.1) < 0.015
    assert abs(draws[1] / 30_000 - 0.3) < 0.015
    assert abs(draws[2] / 30_000 - 0.6) < 0.015


def test_it_is_reproducible_with_the_same_seed():
    first = [choose_arm([2, 1], random.Random(7)) for _ in range(5)]
    again = [choose_arm([2, 1], random.Random(7)) for _ in range(5)]
    assert first == again


def test_it_never_picks_a_zero_weight_arm():
    rng = random.Random(3)
    assert {choose_arm([0, 5, 0], rng) for _ in range(500)} == {1}


@given(
    weights=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12).filter(
        lambda ws: sum(ws) > 0
    ),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_it_always_returns_a_valid_index_with_positive_weight(weights, seed):
    index = choose_arm(weights, random.Random(seed))
    assert 0 <= index < len(weights)
    assert weights[index] > 0


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1]])
def test_it_rejects_weights_that_cannot_allocate(weights):
    with pytest.raises(ValueError):
        choose_arm(weights, random.Random(1))
