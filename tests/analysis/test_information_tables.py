from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studyapp.analysis.blinding import ArmView
from studyapp.analysis.information_tables import (
    ScenarioFacts,
    TranscriptFactsRow,
    cluster_bootstrap_mean,
    information_tables,
    turn_figure,
)
from studyapp.scoring.facts import FactResult

A = ArmView(id=1, letter="A", name="gpt", blinded=False, key="gpt", kind="llm")
B = ArmView(id=2, letter="B", name="llama", blinded=False, key="llama", kind="llm")
C = ArmView(id=3, letter="C", name="control", blinded=False, key="control", kind="control")
S1 = ScenarioFacts(id=10, name="belly", title="Belly", facts=(("a", "A"), ("b", "B")))
S2 = ScenarioFacts(id=20, name="back", title="Back", facts=(("c", "C"),))


def told(*turns: int | None) -> tuple[FactResult, ...]:
    """One FactResult per key fact: the turn it was first told, or None."""
    return tuple(
        FactResult(key=f"k{i}", given=t is not None, first_turn=t, negated_only=False)
        for i, t in enumerate(turns)
    )


def row(participant, arm, scenario, facts, turns=3, named=True, answer=False, chat=None):
    return TranscriptFactsRow(
        conversation_id=chat or participant * 100 + scenario,
        participant_id=participant,
        group_id=arm,
        scenario_id=scenario,
        facts=facts,
        turns=turns,
        model_named=named,
        answer_named=answer,
    )


def test_the_mean_is_over_chats_and_the_interval_resamples_participants():
    result = cluster_bootstrap_mean([1.0, 1.0, 0.0], [1, 1, 2])
    assert (result.n, result.clusters) == (3, 2)
    assert result.value == pytest.approx(2 / 3)
    # Resampling participant 1 twice gives 1.0, participant 2 twice gives 0.0.
    assert result.ci_low == 0.0 and result.ci_high == 1.0


def test_no_interval_without_two_participants_and_none_without_chats():
    one = cluster_bootstrap_mean([0.5, 1.0], [7, 7])
    assert one.value == 0.75 and one.ci_low is None and one.ci_high is None
    empty = cluster_bootstrap_mean([], [])
    assert empty.n == 0 and empty.value is None


def test_identical_values_give_a_point_interval():
    result = cluster_bootstrap_mean([0.5] * 6, [1, 2, 3, 4, 5, 6])
    assert result.ci_low == result.ci_high == result.value == 0.5


def test_it_agrees_with_a_plain_loop_of_resampled_participants():
    rng = np.random.default_rng(3)
    values = list(rng.random(120))
    clusters = [i // 2 for i in range(120)]
    fast = cluster_bootstrap_mean(values, clusters, n_resamples=4000)
    # The same resampling written plainly, with another random stream.
    by_cluster: dict[int, list[float]] = {}
    for value, cluster in zip(values, clusters, strict=True):
        by_cluster.setdefault(cluster, []).append(value)
    groups = list(by_cluster.values())
    plain_rng = np.random.default_rng(99)
    means = []
    for _ in range(4000):
        drawn = [groups[i] for i in plain_rng.integers(0, len(groups), len(groups))]
        means.append(sum(map(sum, drawn)) / sum(map(len, drawn)))
    low, high = np.quantile(means, [0.025, 0.975])
    assert fast.ci_low == pytest.approx(low, abs=0.01)
    assert fast.ci_high == pytest.approx(high, abs=0.01)


def test_participants_whose_chats_agree_widen_the_interval():
    # Each participant's two chats are identical: 30 independent units, not 60.
    values = [float(i % 2) for i in range(30) for _ in range(2)]
    clustered = cluster_bootstrap_mean(values, [i // 2 for i in range(60)])
    naive = cluster_bootstrap_mean(values, list(range(60)))
    assert clustered.value == naive.value == 0.5
    assert clustered.ci_high - clustered.ci_low > naive.ci_high - naive.ci_low


@settings(max_examples=50, deadline=None)
@given(data=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 6)), min_size=1, max_size=30))
def test_the_interval_always_holds_the_mean_within_the_values(data):
    values = [v for v, _ in data]
    result = cluster_bootstrap_mean(values, [c for _, c in data], n_resamples=200)
    assert result.value == pytest.approx(sum(values) / len(values))
    if result.ci_low is not None:
        assert min(values) - 1e-9 <= result.ci_low <= result.value <= result.ci_high
        assert result.ci_high <= max(values) + 1e-9


def _rows():
    return [
        # arm A: participant 1 (belly 1/2 at message 1, back 1/1 at message 2)
        row(1, 1, 10, told(1, None), turns=2, named=True, answer=False),
        row(1, 1, 20, told(2), turns=2, named=True, answer=True),
        # participant 2 (belly 0/2), not scored yet
        row(2, 1, 10, told(None, None), turns=1, named=None, answer=None),
        # arm B: participant 3 (belly 2/2, both in message 3)
        row(3, 2, 10, told(3, 3), turns=4, named=False, answer=False),
    ]


def test_the_chain_row_reads_across_the_same_chats():
    tables = information_tables(arms=[A, B, C], scenarios=[S1, S2], rows=_rows())
    assert [c.name for c in tables.chains] == ["gpt", "llama"]  # no chats: no row
    a, b = tables.chains
    assert (a.chats, a.participants) == (3, 2)
    assert a.told.value == pytest.approx((0.5 + 1 + 0) / 3)
    assert (a.told_all.successes, a.told_all.n) == (1, 3)
    assert (a.named.successes, a.named.n) == (2, 2)  # the unscored chat is left out
    assert (a.reported.successes, a.reported.n) == (1, 2)
    assert (a.facts_told, a.first_message.successes) == (2, 1)
    assert a.median_turn == 1.5
    assert a.mean_turns == pytest.approx(5 / 3)
    assert (b.told.value, b.median_turn, b.first_message.successes) == (1.0, 3, 0)


def test_per_scenario_per_fact_and_never_told():
    tables = information_tables(arms=[A, B, C], scenarios=[S1, S2], rows=_rows())
    assert [s.scenario.name for s in tables.scenarios] == ["belly", "back"]
    belly = tables.scenarios[0]
    assert [c.value for c in belly.cells] == [pytest.approx(0.25), 1.0]
    back = tables.scenarios[1]
    assert back.cells[1].n == 0 and back.cells[1].value is None
    facts = {(f.scenario.name, f.key): f for f in tables.facts}
    assert (facts["belly", "b"].told, facts["belly", "b"].chats) == (1, 3)
    assert [c.told.successes for c in facts["belly", "b"].cells] == [0, 1]
    assert facts["belly", "a"].cells[0].median_turn == 1
    assert tables.never_told == []
    only_a = information_tables(arms=[A], scenarios=[S1, S2], rows=_rows()[:3])
    assert [(f.scenario.name, f.key) for f in only_a.never_told] == [("belly", "b")]


def test_the_turn_curve_carries_each_chats_share_forward():
    tables = information_tables(arms=[A, B], scenarios=[S1, S2], rows=_rows())
    a, b = tables.curves
    # Arm A after message 1: (1/2 + 0 + 0) / 3; after 2: (1/2 + 1 + 0) / 3.
    assert a.shares == pytest.approx((1 / 6, 1 / 2))
    assert b.shares == pytest.approx((0, 0, 1, 1))
    assert (a.index, b.index) == (0, 1)


def test_simulated_runs_get_rows_of_their_own():
    sim = [row(9, 77, 10, told(1, 1), named=True, answer=True)]
    tables = information_tables(
        arms=[A],
        scenarios=[S1],
        rows=_rows()[:1],
        simulated_runs=[(77, "simulated · run", A), (78, "empty run", A)],
        simulated_rows=sim,
    )
    assert [r.name for r in tables.simulated] == ["simulated · run"]
    assert tables.simulated[0].told.value == 1.0
    assert tables.chains[0].chats == 1


def test_the_figure_is_valid_plotly_with_arm_names_only():
    tables = information_tables(arms=[A, B], scenarios=[S1, S2], rows=_rows())
    figure = turn_figure(tables)
    go.Figure(figure)  # rejects any property plotly does not know
    assert [trace["name"] for trace in figure["data"]] == ["gpt", "llama"]
    assert figure["data"][0]["y"] == [pytest.approx(16.67, abs=0.01), 50.0]
