"""Per-arm figures from answer rows. Pure: no ORM, no Django.

Disposition accuracy is an exact match with the scenario's gold level; condition
accuracy is HELPMed's criterion (at least one gold condition named): the score stored
with the answer when it arrived, or the scoring app's matcher for an unscored answer; or,
where the study chose rater reference labels (Study.condition_labels), an answer's
reference label where it has one (the selector reads it; `ConditionLabelling` says how
many answers each source scored).
Proportions carry Wilson 95% intervals (analysis.statistics).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from studyapp.analysis.statistics import wilson
from studyapp.participation.states import STATES, Term
from studyapp.scoring.conditions import names_any_condition
from studyapp.scoring.dispositions import disposition_outcome


@dataclass(frozen=True)
class AnswerRow:
    """What the metrics need of one answer (a selector builds these in bulk)."""

    arm_id: int | None
    answer_value: int
    gold_value: int
    conditions_text: str
    gold_conditions: Sequence[str]
    # Answer.conditions_correct as stored on arrival (or its rater reference label's,
    # where the study uses them); None: not scored, match now.
    conditions_correct: bool | None = None
    synonyms: Mapping[str, Sequence[str]] | None = None
    # conditions_correct is the rater reference label's, not the matcher's.
    rater_labelled: bool = False


@dataclass(frozen=True)
class ConditionLabelling:
    """Which condition scores a set of figures reads: the study's choice
    (Study.condition_labels: "matcher" or "reference") and, of the answers counted, how
    many were scored by a rater reference label and how many by the matcher."""

    choice: str
    rater_labelled: int
    matcher: int

    @property
    def describe(self) -> str:
        """'matcher', or 'rater reference labels for 4 answers, matcher for 1'."""
        if self.choice != "reference":
            return "matcher"

        def answers(n: int) -> str:
            return f"{n} answer" + ("" if n == 1 else "s")

        return (
            f"rater reference labels for {answers(self.rater_labelled)}, "
            f"matcher for {self.matcher}"
        )

    def as_dict(self) -> dict[str, str | int]:
        return {
            "choice": self.choice,
            "rater_reference_answers": self.rater_labelled,
            "matcher_answers": self.matcher,
        }


@dataclass(frozen=True)
class Proportion:
    n: int
    correct: int

    @property
    def value(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def percent(self) -> float | None:
        value = self.value
        return None if value is None else 100.0 * value

    def as_dict(self) -> dict[str, int | float | None]:
        interval = wilson(self.correct, self.n)
        return {
            "n": self.n,
            "correct": self.correct,
            "value": self.value,
            "ci_low": interval.ci_low,
            "ci_high": interval.ci_high,
        }


@dataclass(frozen=True)
class AnswerFigures:
    n_answers: int
    disposition: Proportion
    conditions: Proportion
    over_triage: int
    under_triage: int


def answer_figures(rows: Iterable[AnswerRow]) -> AnswerFigures:
    n = exact = over = under = named = 0
    for row in rows:
        n += 1
        outcome = disposition_outcome(row.answer_value, row.gold_value)
        if outcome == "exact":
            exact += 1
        elif outcome == "over":
            over += 1
        else:
            under += 1
        correct = row.conditions_correct
        if correct is None:
            correct = names_any_condition(
                row.conditions_text, row.gold_conditions, synonyms=row.synonyms
            )
        if correct:
            named += 1
    return AnswerFigures(
        n_answers=n,
        disposition=Proportion(n=n, correct=exact),
        conditions=Proportion(n=n, correct=named),
        over_triage=over,
        under_triage=under,
    )


def answer_figures_by_arm(rows: Iterable[AnswerRow]) -> dict[int | None, AnswerFigures]:
    grouped: dict[int | None, list[AnswerRow]] = {}
    for row in rows:
        grouped.setdefault(row.arm_id, []).append(row)
    return {arm_id: answer_figures(arm_rows) for arm_id, arm_rows in grouped.items()}


def status_counts(counts: Mapping[str, int], statuses: Sequence[str]) -> dict[str, int]:
    """Every status in a fixed order, zero where none, so tables and JSON keep a shape."""
    return {status: int(counts.get(status, 0)) for status in statuses}


@dataclass(frozen=True)
class ArmReport:
    id: int
    key: str
    kind: str
    label: str
    endpoint: str | None
    model: str | None
    is_scripted: bool
    participants: dict[str, int]
    figures: AnswerFigures
    is_test_model: bool = False

    @property
    def participants_total(self) -> int:
        return sum(self.participants.values())

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "kind": self.kind,
            "label": self.label,
            "participants": dict(self.participants),
            "n_answers": self.figures.n_answers,
            "disposition_accuracy": self.figures.disposition.as_dict(),
            "condition_accuracy": self.figures.conditions.as_dict(),
        }


@dataclass(frozen=True)
class EvaluationReport:
    """One evaluation run (one model, one configuration) beside the arms."""

    id: int
    key: str
    kind: str
    model: str
    status: str
    arm_key: str | None
    n_items: int
    # Items with a conditions score / with a disposition score, and how many correct.
    conditions: Proportion
    disposition: Proportion

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "kind": self.kind,
            "model": self.model,
            "status": self.status,
            "arm": self.arm_key,
            "n_items": self.n_items,
            "condition_accuracy": self.conditions.as_dict(),
            "disposition_accuracy": self.disposition.as_dict(),
        }


@dataclass(frozen=True)
class StateRow:
    """One row of the study page's "where participants are now" table: an arm (key "" for
    those without one) and its participants in every state (participation.states), zero
    where none."""

    key: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class StudyReport:
    slug: str
    title: str
    generated_at: str
    # (status code, short label) in the model's order.
    statuses: Sequence[tuple[str, str]]
    arms: list[ArmReport]
    # Participants who have not been allocated to an arm (yet).
    unallocated: dict[str, int] = field(default_factory=dict)
    evaluations: list[EvaluationReport] = field(default_factory=list)
    condition_labels: ConditionLabelling | None = None
    # Everyone who opened the link by state (participation.states): the arms, then those
    # without an arm; withdrawn participants included.
    state_rows: list[StateRow] = field(default_factory=list)
    # The study's pilot participants (left out of these figures unless pilot_included).
    pilot_participants: int = 0
    pilot_included: bool = False

    @property
    def state_totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for row in self.state_rows:
            for state, n in row.counts.items():
                totals[state] = totals.get(state, 0) + n
        return totals

    @property
    def state_lines(self) -> list[tuple[Term, list[int], int]]:
        """The state table transposed for the page: per state (in the flow's order), its
        term, its count in each row of `state_rows`, and its total."""
        lines = []
        for term in STATES:
            counts = [row.counts.get(term.code, 0) for row in self.state_rows]
            lines.append((term, counts, sum(counts)))
        return lines

    @property
    def opened_total(self) -> int:
        """Everyone who opened the link (the states' sum; CONSORT's assessed)."""
        return sum(row.total for row in self.state_rows)

    @property
    def participants_total(self) -> int:
        return sum(a.participants_total for a in self.arms) + sum(self.unallocated.values())

    @property
    def participants_unallocated(self) -> int:
        return sum(self.unallocated.values())

    def as_dict(self) -> dict:
        return {
            "study": self.slug,
            "generated_at": self.generated_at,
            "arms": [arm.as_dict() for arm in self.arms],
            "participants_total": self.participants_total,
            "participants_unallocated": self.participants_unallocated,
            "condition_labels": self.condition_labels.as_dict() if self.condition_labels else None,
            # participation.states: {arm key, or "" without an arm: {state: n}}.
            "states": {row.key: dict(row.counts) for row in self.state_rows},
            "evaluations": [evaluation.as_dict() for evaluation in self.evaluations],
        }
