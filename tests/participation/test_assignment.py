"""Scenario assignment and quotas (pure): balanced cells, distinct scenarios, capacity."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from studyapp.participation.assignment import Quotas, arm_is_open, choose_scenarios, open_arms

KEYS = ["s1", "s2", "s3", "s4", "s5"]


@settings(max_examples=150, deadline=None)
@given(
    n_keys=st.integers(1, 6),
    k=st.integers(1, 6),
    participants=st.integers(1, 60),
    seed=st.integers(0, 2**62),
)
def test_cells_of_an_arm_never_drift_more_than_one_apart(n_keys, k, participants, seed):
    keys = [f"s{i}" for i in range(n_keys)]
    counts: Counter[str] = Counter()
    for i in range(participants):
        chosen = choose_scenarios(
            scenario_keys=keys, cell_counts=counts, k=k, quotas=Quotas(), seed=seed, salt=i
        )
        if k > n_keys:
            assert chosen is None
            return
        assert chosen is not None and len(chosen) == k == len(set(chosen))
        counts.update(chosen)
        values = [counts[key] for key in keys]
        assert max(values) - min(values) <= 1


def test_it_prefers_the_least_filled_cells():
    counts = {"s1": 5, "s2": 1, "s3": 0, "s4": 5, "s5": 2}
    chosen = choose_scenarios(
        scenario_keys=KEYS, cell_counts=counts, k=2, quotas=Quotas(), seed=1, salt=1
    )
    assert sorted(chosen) == ["s2", "s3"]


def test_the_order_is_randomised_and_reproducible():
    def draw(salt):
        return tuple(
            choose_scenarios(
                scenario_keys=KEYS, cell_counts={}, k=5, quotas=Quotas(), seed=4, salt=salt
            )
        )

    orders = Counter(draw(salt) for salt in range(600))
    assert len(orders) > 50  # 120 possible orders, drawn
    assert draw(17) == draw(17)
    firsts = Counter(order[0] for order in orders.elements())
    assert all(80 < n < 160 for n in firsts.values())  # 120 expected each


def test_full_cells_are_not_offered():
    counts = {"s1": 3, "s2": 3, "s3": 1}
    quotas = Quotas(per_cell=3)
    chosen = choose_scenarios(
        scenario_keys=["s1", "s2", "s3"], cell_counts=counts, k=1, quotas=quotas, seed=1, salt=1
    )
    assert chosen == ["s3"]
    assert (
        choose_scenarios(
            scenario_keys=["s1", "s2", "s3"],
            cell_counts=counts,
            k=2,
            quotas=quotas,
            seed=1,
            salt=1,
        )
        is None
    )


def test_an_arm_closes_before_its_quota_would_be_passed():
    keys = ["s1", "s2", "s3"]
    quotas = Quotas(per_arm=10)
    assert arm_is_open(scenario_keys=keys, cell_counts={"s1": 4, "s2": 4}, k=2, quotas=quotas)
    assert not arm_is_open(
        scenario_keys=keys, cell_counts={"s1": 4, "s2": 4, "s3": 1}, k=2, quotas=quotas
    )


def test_the_study_is_full_when_no_arm_has_room():
    counts = {("a", "s1"): 2, ("a", "s2"): 2, ("b", "s1"): 2, ("b", "s2"): 1}
    quotas = Quotas(per_cell=2)
    args = {"scenario_keys": ["s1", "s2"], "counts": counts, "k": 1, "quotas": quotas}
    assert open_arms(arm_keys=["a", "b"], **args) == ["b"]
    counts[("b", "s2")] = 2
    assert open_arms(arm_keys=["a", "b"], **args) == []
    assert open_arms(arm_keys=["a", "b", "c"], **args) == ["c"]


def test_quotas_decide_which_cells_are_open_and_balance_which_come_first():
    # Quota counts (those who began): s1 is full. Balance counts (also those allocated a
    # moment ago): s2 already has two people on their way, s3 none.
    began = {"s1": 3, "s2": 1, "s3": 1}
    balance = {"s1": 3, "s2": 3, "s3": 1}
    chosen = choose_scenarios(
        scenario_keys=["s1", "s2", "s3"],
        cell_counts=began,
        balance_counts=balance,
        k=1,
        quotas=Quotas(per_cell=3),
        seed=1,
        salt=1,
    )
    assert chosen == ["s3"]
    # Pending participants never close a cell.
    both = choose_scenarios(
        scenario_keys=["s1", "s2", "s3"],
        cell_counts=began,
        balance_counts={"s1": 3, "s2": 9, "s3": 9},
        k=2,
        quotas=Quotas(per_cell=3),
        seed=1,
        salt=1,
    )
    assert both is not None and sorted(both) == ["s2", "s3"]
