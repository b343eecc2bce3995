"""The analysis dashboard's tables, from aggregate rows. Pure: no ORM, no Django.

A selector reads answers already grouped in SQL (one row per arm x scenario x chosen level x
gold level x condition score, with a count), so everything here works on a few hundred rows
whatever the number of participants. Scores are the stored ones (`Answer.conditions_correct`,
written when the answer arrives, or an answer's rater reference label where the study chose
them); disposition outcomes follow from the two acuity values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from studyapp.analysis.blinding import ArmView
from studyapp.analysis.inference import Contrast, two_by_two
from studyapp.analysis.metrics import ConditionLabelling
from studyapp.analysis.statistics import Proportion, wilson


@dataclass(frozen=True)
class AnswerCell:
    """A count of answers sharing arm, scenario, chosen and gold level, and condition score."""

    arm_id: int
    scenario_id: int
    answer_value: int
    gold_value: int
    # None: the answer has not been scored yet.
    conditions_correct: bool | None
    n: int
    confidence_sum: int = 0
    # The condition score is the answers' rater reference label, not the matcher's.
    rater_labelled: bool = False


@dataclass(frozen=True)
class ScenarioInfo:
    id: int
    key: str
    version: int
    title: str

    @property
    def name(self) -> str:
        return self.key if self.version == 1 else f"{self.key} v{self.version}"


@dataclass(frozen=True)
class LevelInfo:
    value: int
    code: str
    label: str


@dataclass(frozen=True)
class MentionRow:
    """Per arm, over answered tasks with a scored conversation (a selector counts them)."""

    arm_id: int
    tasks: int
    model_named: int
    participant_named: int
    answer_named: int
    model_named_answer_omitted: int


def proportion(successes: int, n: int) -> Proportion:
    """A Wilson interval, or an empty proportion when there is nothing to count."""
    if n <= 0:
        return Proportion(successes=0, n=0, value=None, ci_low=None, ci_high=None)
    return wilson(successes, n)


def compare(a: Proportion, b: Proportion) -> Contrast | None:
    """Odds ratio and the test the analysis plan's rule picks (chi-squared, or Fisher's
    exact test when an expected count is below 5), both p values kept."""
    if not a.n or not b.n:
        return None
    return two_by_two(a.successes, a.n, b.successes, b.n)


@dataclass(frozen=True)
class ArmSummary:
    arm: ArmView
    participants: int
    answers: int
    disposition: Proportion
    over: Proportion
    under: Proportion
    # Among scored answers; `unscored` are left out of it.
    conditions: Proportion
    unscored: int
    mean_confidence: float | None
    disposition_vs_reference: Contrast | None = None
    conditions_vs_reference: Contrast | None = None


def arm_summaries(
    *,
    arms: Sequence[ArmView],
    cells: Iterable[AnswerCell],
    participants: Mapping[int, int],
    reference_id: int | None,
) -> list[ArmSummary]:
    """One row per arm (in `arms` order), with 95% Wilson intervals and, for every arm but
    the reference, chi-squared/Fisher tests and odds ratios against the reference."""
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cell in cells:
        t = totals[cell.arm_id]
        t["n"] += cell.n
        t["confidence"] += cell.confidence_sum
        if cell.answer_value == cell.gold_value:
            t["exact"] += cell.n
        elif cell.answer_value > cell.gold_value:
            t["over"] += cell.n
        else:
            t["under"] += cell.n
        if cell.conditions_correct is None:
            t["unscored"] += cell.n
        else:
            t["scored"] += cell.n
            t["named"] += cell.n if cell.conditions_correct else 0
    rows = []
    for arm in arms:
        t = totals.get(arm.id, {})
        n = t.get("n", 0)
        rows.append(
            ArmSummary(
                arm=arm,
                participants=int(participants.get(arm.id, 0)),
                answers=n,
                disposition=proportion(t.get("exact", 0), n),
                over=proportion(t.get("over", 0), n),
                under=proportion(t.get("under", 0), n),
                conditions=proportion(t.get("named", 0), t.get("scored", 0)),
                unscored=t.get("unscored", 0),
                mean_confidence=t.get("confidence", 0) / n if n else None,
            )
        )
    reference = next((row for row in rows if row.arm.id == reference_id), None)
    if reference is None:
        return rows
    return [
        row
        if row is reference
        else replace(
            row,
            disposition_vs_reference=compare(row.disposition, reference.disposition),
            conditions_vs_reference=compare(row.conditions, reference.conditions),
        )
        for row in rows
    ]


def reference_arm(arms: Sequence[ArmView]) -> ArmView | None:
    """What the other arms are compared with: the study's one control arm, blinded or not
    (a blinded page names it by its letter only): blinding changes names, never the
    analysis. None when the study has no control arm, or several."""
    return next((arm for arm in arms if arm.is_reference), None)


@dataclass(frozen=True)
class LanguageCells:
    """A language's answer cells and participants per arm: the per-arm table's reads, of
    the participants who took part in that language."""

    code: str
    name: str
    cells: Sequence[AnswerCell]
    participants: Mapping[int, int]


@dataclass(frozen=True)
class LanguageRow:
    """One language x arm of the by-language table."""

    code: str
    name: str
    summary: ArmSummary


def language_rows(
    *, arms: Sequence[ArmView], languages: Iterable[LanguageCells]
) -> list[LanguageRow]:
    """Per language (in the given order), every arm's summary, as the per-arm table
    computes it. No tests against a reference arm here: the per-arm table has them, and
    repeating them per language would multiply the comparisons."""
    return [
        LanguageRow(code=language.code, name=language.name, summary=summary)
        for language in languages
        for summary in arm_summaries(
            arms=arms,
            cells=language.cells,
            participants=language.participants,
            reference_id=None,
        )
    ]


@dataclass(frozen=True)
class Matrix:
    """Counts on a grid: `successes[r][c]` out of `totals[r][c]`."""

    rows: list[str]
    columns: list[str]
    successes: list[list[int]]
    totals: list[list[int]]
    title: str = ""

    @property
    def values(self) -> list[list[float | None]]:
        return [
            [s / t if t else None for s, t in zip(srow, trow, strict=True)]
            for srow, trow in zip(self.successes, self.totals, strict=True)
        ]

    @property
    def is_empty(self) -> bool:
        return not any(any(row) for row in self.totals)


def scenario_matrix(
    *,
    arms: Sequence[ArmView],
    scenarios: Sequence[ScenarioInfo],
    cells: Iterable[AnswerCell],
    metric: str,
) -> Matrix:
    """Arm x scenario accuracy: `metric` is "disposition" (exact level) or "conditions"
    (names a gold condition; unscored answers left out)."""
    if metric not in ("disposition", "conditions"):
        raise ValueError(f"unknown metric {metric!r}")
    row_of = {arm.id: i for i, arm in enumerate(arms)}
    col_of = {scenario.id: j for j, scenario in enumerate(scenarios)}
    successes = [[0] * len(scenarios) for _ in arms]
    totals = [[0] * len(scenarios) for _ in arms]
    for cell in cells:
        r, c = row_of.get(cell.arm_id), col_of.get(cell.scenario_id)
        if r is None or c is None:
            continue
        if metric == "disposition":
            totals[r][c] += cell.n
            successes[r][c] += cell.n if cell.answer_value == cell.gold_value else 0
        elif cell.conditions_correct is not None:
            totals[r][c] += cell.n
            successes[r][c] += cell.n if cell.conditions_correct else 0
    return Matrix(
        rows=[arm.name for arm in arms],
        columns=[scenario.name for scenario in scenarios],
        successes=successes,
        totals=totals,
    )


def confusion_matrices(
    *, arms: Sequence[ArmView], levels: Sequence[LevelInfo], cells: Iterable[AnswerCell]
) -> list[Matrix]:
    """Per arm: rows are the gold level, columns the level chosen (most acute first);
    `totals` holds each row's total so that values are shares of the row."""
    ordered = sorted(levels, key=lambda level: -level.value)
    index = {level.value: i for i, level in enumerate(ordered)}
    counts: dict[int, list[list[int]]] = {
        arm.id: [[0] * len(ordered) for _ in ordered] for arm in arms
    }
    for cell in cells:
        grid = counts.get(cell.arm_id)
        r, c = index.get(cell.gold_value), index.get(cell.answer_value)
        if grid is None or r is None or c is None:
            continue
        grid[r][c] += cell.n
    labels = [level.label for level in ordered]
    matrices = []
    for arm in arms:
        grid = counts[arm.id]
        matrices.append(
            Matrix(
                rows=labels,
                columns=labels,
                successes=grid,
                totals=[[sum(row)] * len(row) for row in grid],
                title=arm.name,
            )
        )
    return matrices


@dataclass(frozen=True)
class Distribution:
    """Per arm, answers by signed distance (chosen minus gold acuity; > 0 over-triage)."""

    distances: list[int]
    arms: list[ArmView]
    counts: list[list[int]]

    @property
    def shares(self) -> list[list[float]]:
        return [[c / sum(row) if sum(row) else 0.0 for c in row] for row in self.counts]


def distance_distribution(
    *, arms: Sequence[ArmView], levels: Sequence[LevelInfo], cells: Iterable[AnswerCell]
) -> Distribution:
    values = [level.value for level in levels] or [0]
    span = max(values) - min(values)
    distances = list(range(-span, span + 1))
    index = {d: i for i, d in enumerate(distances)}
    counts: dict[int, list[int]] = {arm.id: [0] * len(distances) for arm in arms}
    for cell in cells:
        row = counts.get(cell.arm_id)
        i = index.get(cell.answer_value - cell.gold_value)
        if row is not None and i is not None:
            row[i] += cell.n
    return Distribution(
        distances=distances, arms=list(arms), counts=[counts[arm.id] for arm in arms]
    )


@dataclass(frozen=True)
class MentionSummary:
    """Did a gold condition come up in the chat, and did it reach the answer?"""

    arm: ArmView
    tasks: int
    model_named: Proportion
    participant_named: Proportion
    answer_named: Proportion
    # Of the tasks where the model named one: the answer named none.
    omitted_after_model: Proportion


def mention_summaries(
    *, arms: Sequence[ArmView], rows: Iterable[MentionRow]
) -> list[MentionSummary]:
    by_arm = {row.arm_id: row for row in rows}
    out = []
    for arm in arms:
        row = by_arm.get(arm.id)
        if row is None:
            continue
        out.append(
            MentionSummary(
                arm=arm,
                tasks=row.tasks,
                model_named=proportion(row.model_named, row.tasks),
                participant_named=proportion(row.participant_named, row.tasks),
                answer_named=proportion(row.answer_named, row.tasks),
                omitted_after_model=proportion(row.model_named_answer_omitted, row.model_named),
            )
        )
    return out


@dataclass(frozen=True)
class Dashboard:
    arms: list[ArmView]
    summaries: list[ArmSummary]
    reference: ArmView | None
    scenarios: list[ScenarioInfo]
    disposition_by_scenario: Matrix
    conditions_by_scenario: Matrix
    confusion: list[Matrix]
    distances: Distribution
    mentions: list[MentionSummary]
    # Answered LLM tasks whose conversation has no current transcript score yet.
    transcripts_pending: int
    blinded: bool
    generated_at: str
    notes: list[str] = field(default_factory=list)
    condition_labels: ConditionLabelling | None = None
    # Per language x arm, for a study run in several languages (else empty).
    languages: list[LanguageRow] = field(default_factory=list)

    @property
    def answers(self) -> int:
        return sum(row.answers for row in self.summaries)

    @property
    def participants(self) -> int:
        return sum(row.participants for row in self.summaries)

    @property
    def unscored(self) -> int:
        return sum(row.unscored for row in self.summaries)


def build_dashboard(
    *,
    arms: Sequence[ArmView],
    scenarios: Sequence[ScenarioInfo],
    levels: Sequence[LevelInfo],
    cells: Sequence[AnswerCell],
    participants: Mapping[int, int],
    mentions: Iterable[MentionRow],
    transcripts_pending: int,
    generated_at: str,
    condition_labels: str = "matcher",
    languages: Iterable[LanguageCells] = (),
) -> Dashboard:
    arms = list(arms)
    rater_labelled = sum(cell.n for cell in cells if cell.rater_labelled)
    blinded = bool(arms) and arms[0].blinded
    reference = reference_arm(arms)
    # Only scenarios somebody answered (under the filters) get a column.
    answered = {cell.scenario_id for cell in cells}
    shown = [s for s in scenarios if s.id in answered]
    return Dashboard(
        arms=arms,
        summaries=arm_summaries(
            arms=arms,
            cells=cells,
            participants=participants,
            reference_id=reference.id if reference else None,
        ),
        reference=reference,
        scenarios=shown,
        disposition_by_scenario=scenario_matrix(
            arms=arms, scenarios=shown, cells=cells, metric="disposition"
        ),
        conditions_by_scenario=scenario_matrix(
            arms=arms, scenarios=shown, cells=cells, metric="conditions"
        ),
        confusion=confusion_matrices(arms=arms, levels=levels, cells=cells),
        distances=distance_distribution(arms=arms, levels=levels, cells=cells),
        mentions=mention_summaries(arms=arms, rows=mentions),
        transcripts_pending=transcripts_pending,
        blinded=blinded,
        generated_at=generated_at,
        condition_labels=ConditionLabelling(
            choice=condition_labels,
            rater_labelled=rater_labelled,
            matcher=sum(cell.n for cell in cells) - rater_labelled,
        ),
        languages=language_rows(arms=arms, languages=languages),
    )
