"""Reads of the ratings app: what to sample, raters' queues and items, the adjudication
queue, every item's reference label, and `answer_references` (each answer's reference
label, which `models.ReferenceLabel` keeps for the analysis).

A rater's reads never carry the arm, its label, the model, the run or its kind, or whether
the item came from a person or a simulated or model-alone run: only the scenario, the
item's own text and the rater's own labels (and, once adjudicated, the final label).
Agreement figures are in `ratings.reports`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from studyapp.chat.blinding import displayed
from studyapp.chat.models import Conversation, Message
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.participation.models import Answer, Task
from studyapp.ratings.decisions import (
    Decision,
    answer_decision,
    decision_from_row,
    disagree,
    transcript_decision,
)
from studyapp.ratings.models import (
    Adjudication,
    Label,
    RatingAssignment,
    RatingItem,
    StudyRater,
)
from studyapp.studies.models import Scenario, Study

# Evaluation kinds whose items are answers or chats about a scenario.
RATEABLE_RUN_KINDS = (EvaluationRun.Kind.MODEL_ALONE, EvaluationRun.Kind.SIMULATED)


# --- Sampling --------------------------------------------------------------------------


def round_candidates(
    *,
    study: Study,
    answers: bool,
    transcripts: bool,
    humans: bool,
    evaluation_run_ids: Sequence[int] = (),
) -> list[dict]:
    """RatingItem fields for everything chosen that no round of the study holds yet.

    Answers: participants' answers; model-alone items scored for conditions; simulated
    items whose patient answered. Transcripts: finished tasks with a chat (participants'
    or simulated) whose scenario has a rubric (there is nothing else to fill in).
    """
    in_rounds = RatingItem.objects.filter(round__study=study)
    out: list[dict] = []
    kind = RatingItem.Kind
    if humans and answers:
        rows = (
            Answer.objects.of_humans()
            .filter(task__participant__study=study)
            .exclude(pk__in=in_rounds.filter(answer__isnull=False).values("answer_id"))
            .order_by("pk")
            .values_list("pk", "task__scenario_id")
        )
        out += [{"kind": kind.ANSWER, "answer_id": pk, "scenario_id": s} for pk, s in rows]
    if humans and transcripts:
        rows = (
            Task.objects.of_humans()
            .filter(
                participant__study=study,
                status=Task.Status.DONE,
                conversation__isnull=False,
            )
            .exclude(scenario__rubric=[])
            .exclude(pk__in=in_rounds.filter(task__isnull=False).values("task_id"))
            .order_by("pk")
            .values_list("pk", "scenario_id")
        )
        out += [{"kind": kind.TRANSCRIPT, "task_id": pk, "scenario_id": s} for pk, s in rows]
    if evaluation_run_ids:
        runs = EvaluationRun.objects.filter(study=study, pk__in=evaluation_run_ids)
        if runs.count() != len(set(evaluation_run_ids)):
            raise ValueError("an evaluation run is not one of this study's")
        if runs.exclude(kind__in=RATEABLE_RUN_KINDS).exists():
            raise ValueError("only model-alone and simulated runs have answers or chats")
        items = EvaluationItem.objects.filter(
            run__in=runs, status=EvaluationItem.Status.SUCCEEDED, scenario__isnull=False
        ).order_by("pk")
        taken = in_rounds.filter(evaluation_item__isnull=False)
        if answers:
            rows = (
                items.filter(
                    Q(run__kind=EvaluationRun.Kind.MODEL_ALONE, conditions_correct__isnull=False)
                    | Q(run__kind=EvaluationRun.Kind.SIMULATED, task__answer__isnull=False)
                )
                .exclude(pk__in=taken.filter(kind=kind.ANSWER).values("evaluation_item_id"))
                .values_list("pk", "scenario_id")
            )
            out += [
                {"kind": kind.ANSWER, "evaluation_item_id": pk, "scenario_id": s} for pk, s in rows
            ]
        if transcripts:
            rows = (
                items.filter(task__conversation__isnull=False)
                .exclude(scenario__rubric=[])
                .exclude(pk__in=taken.filter(kind=kind.TRANSCRIPT).values("evaluation_item_id"))
                .values_list("pk", "scenario_id")
            )
            out += [
                {"kind": kind.TRANSCRIPT, "evaluation_item_id": pk, "scenario_id": s}
                for pk, s in rows
            ]
    return out


def rateable_runs(*, study: Study) -> QuerySet[EvaluationRun]:
    return EvaluationRun.objects.filter(study=study, kind__in=RATEABLE_RUN_KINDS).order_by("key")


# --- Raters ----------------------------------------------------------------------------


def rater_for(*, study: Study, user) -> StudyRater:
    """The user's active rating role (the permission helper has checked there is one)."""
    return StudyRater.objects.get(study=study, user=user, is_active=True, can_rate=True)


def studies_rated_by(*, user) -> list[tuple[Study, StudyRater]]:
    roles = StudyRater.objects.filter(user=user, is_active=True).select_related("study")
    return [(role.study, role) for role in roles.order_by("study__title")]


@dataclass(frozen=True)
class RaterRow:
    rater: StudyRater
    assigned: int
    labelled: int


def raters_with_progress(*, study: Study) -> list[RaterRow]:
    """Every rater of the study with items assigned and labelled (2 queries)."""
    raters = list(
        StudyRater.objects.filter(study=study)
        .select_related("user")
        .annotate(assigned=Count("assignments", distinct=True))
        .order_by("pk")
    )
    labelled = dict(
        Label.objects.filter(rater__study=study)
        .values("rater")
        .annotate(n=Count("item", distinct=True))
        .values_list("rater", "n")
    )
    return [RaterRow(r, r.assigned, labelled.get(r.pk, 0)) for r in raters]


# --- A rater's queue and items ---------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    position: int
    kind: str
    labelled: bool
    adjudicated: bool


def rater_queue(*, rater: StudyRater) -> list[QueueRow]:
    assignments = list(
        RatingAssignment.objects.filter(rater=rater)
        .order_by("position")
        .values_list("position", "item_id", "item__kind")
    )
    item_ids = [item_id for _p, item_id, _k in assignments]
    labelled = set(
        Label.objects.filter(rater=rater, item_id__in=item_ids).values_list("item_id", flat=True)
    )
    adjudicated = set(
        Adjudication.objects.filter(item_id__in=item_ids).values_list("item_id", flat=True)
    )
    return [
        QueueRow(position, kind, item_id in labelled, item_id in adjudicated)
        for position, item_id, kind in assignments
    ]


@dataclass(frozen=True)
class Turn:
    role: str  # "person" or "assistant": never whether the person was simulated
    text: str
    # The assistant's turn number (1 = its first reply); None for the person's.
    model_turn: int | None


@dataclass(frozen=True)
class ItemContent:
    """What anyone rating an item reads: the scenario and the item's own text."""

    kind: str
    scenario: Scenario
    # Answer items: the conditions text. Transcripts: the final answer's, if any.
    text: str
    turns: list[Turn] = field(default_factory=list)
    # Transcripts: the care option the final answer chose (its label), if any.
    care: str = ""

    @property
    def model_turns(self) -> int:
        return sum(1 for t in self.turns if t.model_turn)


def _task_of(item: RatingItem) -> Task | None:
    if item.task_id:
        return item.task
    if item.evaluation_item_id:
        return item.evaluation_item.task
    return None


def item_content(*, item: RatingItem) -> ItemContent:
    """The text of one item (3-5 queries)."""
    if item.kind == RatingItem.Kind.ANSWER:
        if item.answer_id:
            text = item.answer.conditions_text
        else:
            evaluation = item.evaluation_item
            answer = Answer.objects.filter(task_id=evaluation.task_id).first()
            text = (
                answer.conditions_text
                if answer and evaluation.task_id
                else evaluation.parsed.get("conditions_text") or evaluation.response
            )
        return ItemContent(kind=item.kind, scenario=item.scenario, text=text)
    task = _task_of(item)
    turns: list[Turn] = []
    n = 0
    messages = (
        Message.objects.filter(conversation__task=task)
        .exclude(text="")
        .order_by("sequence")
        .values_list("role", "text")
    )
    # Raters stay blind to the arm: a reply naming its model reads with the study's
    # neutral words, also where the study only flagged the terms for participants.
    conversation = Conversation.objects.filter(task=task).only("blinding_terms").first()
    terms = conversation.blinding_terms if conversation else []
    neutral = item.scenario.study.blinding_replacement
    for role, text in messages:
        if role == Message.Role.ASSISTANT:
            n += 1
            turns.append(Turn("assistant", displayed(text, terms, neutral), n))
        else:
            turns.append(Turn("person", text, None))
    answer = Answer.objects.filter(task=task).select_related("disposition").first()
    return ItemContent(
        kind=item.kind,
        scenario=item.scenario,
        text=answer.conditions_text if answer else "",
        turns=turns,
        care=answer.disposition.label if answer else "",
    )


def decision_for_item(
    *,
    item: RatingItem,
    conditions_named: Iterable[str] = (),
    red_flags_named: Iterable[str] = (),
    other_conditions: str = "",
    verdicts: Mapping[str, bool] | None = None,
    turns: Mapping[str, Iterable[int]] | None = None,
    model_turns: int | None = None,
) -> Decision:
    """A decision checked against the item's scenario (decisions.DecisionError if it does
    not fit)."""
    scenario = item.scenario
    if item.kind == RatingItem.Kind.ANSWER:
        return answer_decision(
            gold_conditions=scenario.gold_conditions,
            red_flags=scenario.red_flags,
            conditions_named=conditions_named,
            red_flags_named=red_flags_named,
            other_conditions=other_conditions,
        )
    if model_turns is None:
        model_turns = item_content(item=item).model_turns
    return transcript_decision(
        rubric=scenario.rubric, verdicts=verdicts or {}, turns=turns, model_turns=model_turns
    )


@dataclass(frozen=True)
class RaterItem:
    assignment: RatingAssignment
    content: ItemContent
    # The rater's own labels, latest first (the first is the current one).
    history: list[Label]
    final: Adjudication | None
    previous: int | None
    next: int | None

    @property
    def current(self) -> Label | None:
        return self.history[0] if self.history else None


def rater_item(*, rater: StudyRater, position: int) -> RaterItem | None:
    """An item of the rater's queue with the rater's own labels only (None: not theirs).

    The final label shows once the item is adjudicated; other raters' labels never do."""
    assignment = (
        RatingAssignment.objects.filter(rater=rater, position=position)
        .select_related("item__scenario", "item__answer", "item__task", "item__evaluation_item")
        .first()
    )
    if assignment is None:
        return None
    item = assignment.item
    positions = RatingAssignment.objects.filter(rater=rater)
    previous = positions.filter(position__lt=position).order_by("-position").first()
    following = positions.filter(position__gt=position).order_by("position").first()
    return RaterItem(
        assignment=assignment,
        content=item_content(item=item),
        history=list(Label.objects.filter(item=item, rater=rater).order_by("-pk")),
        final=Adjudication.objects.filter(item=item).order_by("-pk").first(),
        previous=previous.position if previous else None,
        next=following.position if following else None,
    )


# --- Every item's state, and the reference labels --------------------------------------


class Status:
    UNLABELLED = "unlabelled"
    SINGLE = "single"  # rated once, as planned: no reference label
    AWAITING = "awaiting"  # double-rated, a label still missing
    CONSENSUS = "consensus"
    DISPUTED = "disputed"  # current labels disagree: in the adjudication queue
    ADJUDICATED = "adjudicated"


REFERENCE_STATUSES = (Status.CONSENSUS, Status.ADJUDICATED)


@dataclass(frozen=True)
class ItemState:
    item_id: int
    kind: str
    scenario_id: int
    scenario_key: str
    is_double: bool
    round_created_at: datetime
    # rater id -> the rater's current label
    labels: dict[int, Decision]
    status: str
    reference: Decision | None


def _state(row: dict, labels: dict[int, tuple[Decision, datetime]], adjudication) -> ItemState:
    kind = row["kind"]
    decisions = {rater: d for rater, (d, _at) in labels.items()}
    newest = max((at for _d, at in labels.values()), default=None)
    adjudicated = adjudication is not None and (newest is None or adjudication[1] >= newest)
    reference = None
    if adjudicated:
        status, reference = Status.ADJUDICATED, adjudication[0]
    elif not labels:
        status = Status.UNLABELLED
    elif len(labels) == 1:
        status = Status.AWAITING if row["is_double"] else Status.SINGLE
    elif disagree(kind, decisions.values()):
        status = Status.DISPUTED
    else:
        status, reference = Status.CONSENSUS, next(iter(decisions.values()))
    return ItemState(
        item_id=row["id"],
        kind=kind,
        scenario_id=row["scenario_id"],
        scenario_key=row["scenario__key"],
        is_double=row["is_double"],
        round_created_at=row["round__created_at"],
        labels=decisions,
        status=status,
        reference=reference,
    )


def item_states(
    *,
    study: Study,
    extra_fields: Sequence[str] = (),
    item_ids: Collection[int] | None = None,
) -> list[tuple[ItemState, dict]]:
    """Every rating item of the study (or only `item_ids`) with its current labels,
    status and reference label (an adjudication newer than every current label, else the
    raters' consensus), in 3 queries. `extra_fields`: more RatingItem values to read
    along (returned beside)."""
    items = RatingItem.objects.filter(round__study=study)
    if item_ids is not None:
        items = items.filter(pk__in=item_ids)
    rows = list(
        items.order_by("pk").values(
            "id",
            "kind",
            "scenario_id",
            "scenario__key",
            "is_double",
            "round__created_at",
            *extra_fields,
        )
    )
    labels: dict[int, dict[int, tuple[Decision, datetime]]] = defaultdict(dict)
    adjudications_of = Adjudication.objects.filter(item__round__study=study)
    labels_of = Label.objects.filter(item__round__study=study)
    if item_ids is not None:
        labels_of = labels_of.filter(item_id__in=item_ids)
        adjudications_of = adjudications_of.filter(item_id__in=item_ids)
    for label in labels_of.current().order_by("pk"):
        labels[label.item_id][label.rater_id] = (decision_from_row(label), label.created_at)
    adjudications = {
        a.item_id: (decision_from_row(a), a.created_at) for a in adjudications_of.current()
    }
    return [(_state(row, labels[row["id"]], adjudications.get(row["id"])), row) for row in rows]


def adjudication_queue(*, study: Study, user) -> list[ItemState]:
    """Items whose current labels disagree and that no later adjudication resolved,
    except those `user` labelled (someone else adjudicates them)."""
    own = set(
        Label.objects.filter(item__round__study=study, rater__user=user).values_list(
            "item_id", flat=True
        )
    )
    return [
        state
        for state, _row in item_states(study=study)
        if state.status == Status.DISPUTED and state.item_id not in own
    ]


@dataclass(frozen=True)
class AdjudicationView:
    item: RatingItem
    content: ItemContent
    # (rater code, current label) in code order
    labels: list[tuple[str, Label]]
    history: list[Adjudication]
    labelled_by_user: bool


def adjudication_item(*, study: Study, item_id: int, user) -> AdjudicationView | None:
    item = (
        RatingItem.objects.filter(round__study=study, pk=item_id)
        .select_related("scenario", "answer", "task", "evaluation_item")
        .first()
    )
    if item is None:
        return None
    current = Label.objects.filter(item=item).current().select_related("rater")
    return AdjudicationView(
        item=item,
        content=item_content(item=item),
        labels=sorted(((lb.rater.code, lb) for lb in current), key=lambda p: p[0]),
        history=list(
            Adjudication.objects.filter(item=item).select_related("adjudicator").order_by("-pk")
        ),
        labelled_by_user=any(lb.rater.user_id == user.pk for lb in current),
    )


# --- What the analysis uses when its plan chooses adjudicated labels -------------------


@dataclass(frozen=True)
class AnswerReference:
    """An answer's reference label as the analysis reads it (`models.ReferenceLabel`)."""

    item_id: int
    source: str  # ReferenceLabel.Source: "adjudicated" or "agreed"
    conditions_correct: bool
    matched_conditions: tuple[str, ...]
    matched_red_flags: tuple[str, ...]


def answer_references(
    *, study: Study, answer_ids: Collection[int] | None = None
) -> dict[int, AnswerReference]:
    """{answer id: its reference label} for the study's answers (or only `answer_ids`)
    that have one: the latest adjudication of the answer's item, else its raters'
    consensus (4 queries).

    Answers with no reference label (not rated, rated once, or still disputed) are
    absent: the analysis keeps the matcher's scores for them. `conditions_correct`
    follows HELPMed's rule: at least one gold condition named. Keys are participation
    Answer ids, participants' and simulated participants' alike (a simulated item's
    answer is an Answer too); model-alone outputs have no Answer and are not here. An
    answer in more than one round takes the reference of the latest round that has one.
    `models.ReferenceLabel` holds the same, kept in step by `services.references`.
    """
    item_ids = None
    if answer_ids is not None:
        item_ids = list(
            RatingItem.objects.filter(round__study=study, kind=RatingItem.Kind.ANSWER)
            .filter(Q(answer_id__in=answer_ids) | Q(evaluation_item__task__answer__in=answer_ids))
            .values_list("pk", flat=True)
        )
    states = item_states(
        study=study,
        extra_fields=["answer_id", "evaluation_item__task__answer"],
        item_ids=item_ids,
    )
    out: dict[int, AnswerReference] = {}
    for state, row in sorted(states, key=lambda pair: (pair[0].round_created_at, pair[0].item_id)):
        if state.kind != RatingItem.Kind.ANSWER or state.status not in REFERENCE_STATUSES:
            continue
        answer_id = row["answer_id"] or row["evaluation_item__task__answer"]
        if answer_id is None:
            continue
        reference = state.reference
        out[answer_id] = AnswerReference(
            item_id=state.item_id,
            source="adjudicated" if state.status == Status.ADJUDICATED else "agreed",
            conditions_correct=bool(reference.conditions_named),
            matched_conditions=tuple(reference.conditions_named),
            matched_red_flags=tuple(reference.red_flags_named),
        )
    return out


def adjudicated_condition_scores(*, study: Study) -> dict[int, dict]:
    """{answer id: {"conditions_correct", "matched", "red_flags"}}: `answer_references`
    as plain dicts. The analysis reads the same from `models.ReferenceLabel` rows in SQL
    (`analysis.selectors`), when the study's `condition_labels` choice says so."""
    return {
        answer_id: {
            "conditions_correct": ref.conditions_correct,
            "matched": list(ref.matched_conditions),
            "red_flags": list(ref.matched_red_flags),
        }
        for answer_id, ref in answer_references(study=study).items()
    }
