"""Information transfer, the first half of HELPMed's failure chain: tables. Pure.

Per answered chat (a selector reads them, `analysis.information`): which of the scenario's
key facts the participant told the model and in which of their messages first
(scoring.facts), whether the model named a gold condition in the chat (the stored
transcript score) and whether the answer reports one (the stored answer score). From
those rows, per arm: the mean share of key facts told, with a cluster bootstrap CI; the
chain told -> named by the model -> reported in the answer; when facts arrive; and per
scenario and per fact, what was told and what never was.

Chats of scenarios without key facts are not rows: every figure here is over the same
chats, so the chain reads across one row.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from studyapp.analysis.blinding import ArmView
from studyapp.analysis.dashboard import proportion
from studyapp.analysis.plots import FONT, PALETTE
from studyapp.analysis.statistics import Proportion
from studyapp.scoring.facts import FactResult

# Resamples of the cluster bootstrap (seed 0): the percentile limits of 2,000 move by
# well under a percentage point from seed to seed at the sizes of a study.
N_RESAMPLES = 2000
# Resampled participants held at once (memory: eight bytes each, twice).
_BOOTSTRAP_CELLS = 1_000_000


@dataclass(frozen=True)
class TranscriptFactsRow:
    """One answered chat (a selector fills it)."""

    conversation_id: int
    participant_id: int
    # The arm (humans) or the simulated run this chat belongs to.
    group_id: int
    scenario_id: int
    facts: tuple[FactResult, ...]
    # Participant messages in the chat.
    turns: int
    # The model named a gold condition in the chat; None: no current transcript score.
    model_named: bool | None
    # The answer names a gold condition; None: not scored.
    answer_named: bool | None

    @property
    def share(self) -> float:
        return sum(f.given for f in self.facts) / len(self.facts)


@dataclass(frozen=True)
class MeanShare:
    """A mean over chats of each chat's share of key facts told, with its 95% interval
    from a percentile bootstrap that resamples participants (each with all their chats)."""

    n: int  # chats
    clusters: int  # participants
    value: float | None
    ci_low: float | None
    ci_high: float | None


def cluster_bootstrap_mean(
    values: Sequence[float],
    clusters: Sequence[int],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    alpha: float = 0.05,
) -> MeanShare:
    """Mean of `values` with a percentile bootstrap CI over `clusters`.

    A participant does several scenarios, so their chats are not independent: each
    resample draws participants with replacement and takes every chat of each, and its
    mean is the mean over the chats drawn (sum of the drawn participants' sums over the
    sum of their counts). Resamples are drawn as index arrays, a block at a time (numpy
    gathers; 2,000 resamples of 2,500 participants take tens of milliseconds). Fewer than
    two participants: no interval.
    """
    n = len(values)
    if n == 0:
        return MeanShare(n=0, clusters=0, value=None, ci_low=None, ci_high=None)
    ids = {cluster: i for i, cluster in enumerate(dict.fromkeys(clusters))}
    k = len(ids)
    index = np.fromiter((ids[c] for c in clusters), dtype=np.intp, count=n)
    sums = np.bincount(index, weights=np.asarray(values, dtype=float), minlength=k)
    counts = np.bincount(index, minlength=k).astype(float)
    mean = float(sums.sum() / counts.sum())
    if k < 2:
        return MeanShare(n=n, clusters=k, value=mean, ci_low=None, ci_high=None)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    block = max(1, _BOOTSTRAP_CELLS // k)
    for start in range(0, n_resamples, block):
        drawn = rng.integers(0, k, size=(min(block, n_resamples - start), k))
        means[start : start + len(drawn)] = sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    # Rounding can leave a limit a hair outside the mean when every value is the same.
    return MeanShare(
        n=n, clusters=k, value=mean, ci_low=min(float(low), mean), ci_high=max(float(high), mean)
    )


@dataclass(frozen=True)
class ScenarioFacts:
    id: int
    name: str
    title: str
    facts: tuple[tuple[str, str], ...]  # (key, text), in the scenario's order


@dataclass(frozen=True)
class ChainRow:
    """Told -> named by the model -> reported in the answer, for one arm or run."""

    name: str
    arm: ArmView | None
    chats: int
    participants: int
    told: MeanShare
    # Every key fact of the scenario told.
    told_all: Proportion
    named: Proportion  # over chats with a current transcript score
    reported: Proportion  # over chats whose answer is scored
    # Key facts told, and of those the share first told in the participant's first message.
    facts_told: int
    first_message: Proportion
    median_turn: float | None
    mean_turns: float | None


@dataclass(frozen=True)
class FactCell:
    told: Proportion
    median_turn: float | None


@dataclass(frozen=True)
class FactRow:
    scenario: ScenarioFacts
    key: str
    text: str
    cells: tuple[FactCell, ...]  # one per arm, in arm order
    chats: int  # over every arm
    told: int  # chats that told it, over every arm
    negated_only: int  # chats that mentioned it only negated

    @property
    def never_told(self) -> bool:
        return self.chats > 0 and self.told == 0


@dataclass(frozen=True)
class ScenarioRow:
    scenario: ScenarioFacts
    cells: tuple[MeanShare, ...]  # one per arm, in arm order


@dataclass(frozen=True)
class TurnCurve:
    """Mean share of key facts told by the end of each participant message, per arm (a
    chat with fewer messages keeps its final share)."""

    arm: ArmView
    shares: tuple[float, ...]  # index 0: after the first message
    # The arm's place among all the study's arms: its colour on every dashboard figure.
    index: int = 0


@dataclass
class InformationTables:
    arms: list[ArmView]
    chains: list[ChainRow]
    simulated: list[ChainRow]
    scenarios: list[ScenarioRow]
    facts: list[FactRow]
    curves: list[TurnCurve]
    # Scenarios of the study without key facts (their chats are left out).
    scenarios_without_facts: list[str] = field(default_factory=list)
    matcher_version: str = ""

    @property
    def never_told(self) -> list[FactRow]:
        return [row for row in self.facts if row.never_told]


def _median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def chain_row(name: str, arm: ArmView | None, rows: Sequence[TranscriptFactsRow]) -> ChainRow:
    told_turns = [f.first_turn for row in rows for f in row.facts if f.given]
    scored_named = [row.model_named for row in rows if row.model_named is not None]
    scored_answers = [row.answer_named for row in rows if row.answer_named is not None]
    return ChainRow(
        name=name,
        arm=arm,
        chats=len(rows),
        participants=len({row.participant_id for row in rows}),
        told=cluster_bootstrap_mean(
            [row.share for row in rows], [row.participant_id for row in rows]
        ),
        told_all=proportion(sum(row.share == 1 for row in rows), len(rows)),
        named=proportion(sum(scored_named), len(scored_named)),
        reported=proportion(sum(scored_answers), len(scored_answers)),
        facts_told=len(told_turns),
        first_message=proportion(sum(t == 1 for t in told_turns), len(told_turns)),
        median_turn=_median([t for t in told_turns if t is not None]),
        mean_turns=(sum(row.turns for row in rows) / len(rows)) if rows else None,
    )


def _curve(rows: Sequence[TranscriptFactsRow]) -> tuple[float, ...]:
    if not rows:
        return ()
    longest = max(max(row.turns, 1) for row in rows)
    totals = [0.0] * longest
    for row in rows:
        per_turn = [0] * (longest + 1)
        for f in row.facts:
            if f.given and f.first_turn is not None:
                per_turn[f.first_turn] += 1
        told = 0
        for turn in range(1, longest + 1):
            told += per_turn[turn]
            totals[turn - 1] += told / len(row.facts)
    return tuple(total / len(rows) for total in totals)


def information_tables(
    *,
    arms: Sequence[ArmView],
    scenarios: Sequence[ScenarioFacts],
    rows: Iterable[TranscriptFactsRow],
    simulated_runs: Sequence[tuple[int, str, ArmView | None]] = (),
    simulated_rows: Iterable[TranscriptFactsRow] = (),
    scenarios_without_facts: Sequence[str] = (),
    matcher_version: str = "",
) -> InformationTables:
    """Every table of the information-transfer section, arms in `arms` order.

    `rows` are human chats grouped by arm id; `simulated_rows` are simulated patients'
    chats grouped by run id, each run given as (id, name, its arm).
    """
    by_arm: dict[int, list[TranscriptFactsRow]] = defaultdict(list)
    for row in rows:
        by_arm[row.group_id].append(row)
    chat_arms = [arm for arm in arms if by_arm.get(arm.id)]
    by_run: dict[int, list[TranscriptFactsRow]] = defaultdict(list)
    for row in simulated_rows:
        by_run[row.group_id].append(row)

    scenario_rows: list[ScenarioRow] = []
    fact_rows: list[FactRow] = []
    for scenario in scenarios:
        per_arm = [
            [row for row in by_arm.get(arm.id, []) if row.scenario_id == scenario.id]
            for arm in chat_arms
        ]
        if not any(per_arm):
            continue
        scenario_rows.append(
            ScenarioRow(
                scenario=scenario,
                cells=tuple(
                    cluster_bootstrap_mean(
                        [row.share for row in chats], [row.participant_id for row in chats]
                    )
                    for chats in per_arm
                ),
            )
        )
        for index, (key, text) in enumerate(scenario.facts):
            cells = []
            told = negated = chats_all = 0
            for chats in per_arm:
                results = [row.facts[index] for row in chats]
                turns = [r.first_turn for r in results if r.given and r.first_turn is not None]
                cells.append(
                    FactCell(told=proportion(len(turns), len(results)), median_turn=_median(turns))
                )
                told += len(turns)
                negated += sum(r.negated_only for r in results)
                chats_all += len(results)
            fact_rows.append(
                FactRow(
                    scenario=scenario,
                    key=key,
                    text=text,
                    cells=tuple(cells),
                    chats=chats_all,
                    told=told,
                    negated_only=negated,
                )
            )
    return InformationTables(
        arms=chat_arms,
        chains=[chain_row(arm.name, arm, by_arm[arm.id]) for arm in chat_arms],
        simulated=[
            chain_row(name, arm, by_run[run_id])
            for run_id, name, arm in simulated_runs
            if by_run.get(run_id)
        ],
        scenarios=scenario_rows,
        facts=fact_rows,
        curves=[
            TurnCurve(arm=arm, shares=_curve(by_arm[arm.id]), index=arms.index(arm))
            for arm in chat_arms
        ],
        scenarios_without_facts=list(scenarios_without_facts),
        matcher_version=matcher_version,
    )


def turn_figure(tables: InformationTables) -> dict:
    """Plotly JSON, as analysis.plots builds it: the mean share of key facts told by the end
    of each participant message, one line per arm (display names only: blinded stays
    blinded)."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": curve.arm.name,
                "x": list(range(1, len(curve.shares) + 1)),
                "y": [round(100 * share, 2) for share in curve.shares],
                "line": {"color": PALETTE[curve.index % len(PALETTE)]},
                "hovertemplate": "message %{x}: %{y:.1f}%<extra>%{fullData.name}</extra>",
            }
            for curve in tables.curves
        ],
        "layout": {
            "font": FONT,
            "margin": {"l": 60, "r": 20, "t": 30, "b": 60},
            "paper_bgcolor": "#fff",
            "plot_bgcolor": "#fff",
            "legend": {"orientation": "h", "y": -0.25},
            "hoverlabel": {"font": FONT},
            "xaxis": {"title": {"text": "Participant message"}, "dtick": 1},
            "yaxis": {"title": {"text": "Key facts told, mean %"}, "range": [0, 100]},
        },
    }
