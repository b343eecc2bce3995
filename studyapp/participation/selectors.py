"""Reads for participation: where a participant is in the flow, and what a page shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)

from studyapp.participation.models import (
    Allocation,
    Participant,
    ParticipantEvent,
    Task,
    began_q,
    not_preview_q,
)
from studyapp.participation.states import State, state_of
from studyapp.questionnaires.flow import pending_after_tasks, pending_before_instructions
from studyapp.questionnaires.selectors import participant_answered, study_questionnaires
from studyapp.studies.models import DispositionLevel, Study


class StepKind(StrEnum):
    CONSENT = "consent"
    DECLINED = "declined"
    # After consent, before allocation, when the study asks a screening question.
    SCREENING = "screening"
    INSTRUCTIONS = "instructions"
    # The attention/comprehension check, after the instructions, when the study has one.
    CHECK = "check"
    # Within a task: reading + chatting (LLM arm) or noting sources (control arm) ...
    CHAT = "chat"
    SOURCES = "sources"
    # ... then the questions.
    ANSWER = "answer"
    # A questionnaire of the study (studyapp.questionnaires.flow says where they fall).
    QUESTIONNAIRE = "questionnaire"
    COMPLETE = "complete"
    # Screened out, timed out, failed the check, study full, returned, left after a
    # technical problem: the session is over.
    ENDED = "ended"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    task: Task | None = None
    task_count: int = 0
    # QUESTIONNAIRE: which one, and the task it follows (after each scenario).
    questionnaire_id: int | None = None
    questionnaire_task: Task | None = None

    @property
    def is_task(self) -> bool:
        return self.task is not None


_TERMINAL = {
    Participant.Status.CONSENT_DECLINED: StepKind.DECLINED,
    Participant.Status.COMPLETED: StepKind.COMPLETE,
    Participant.Status.SCREENED_OUT: StepKind.ENDED,
    Participant.Status.TIMED_OUT: StepKind.ENDED,
    Participant.Status.WITHDRAWN: StepKind.ENDED,
    Participant.Status.RETURNED: StepKind.ENDED,
    Participant.Status.FAILED_CHECK: StepKind.ENDED,
    Participant.Status.STUDY_FULL: StepKind.ENDED,
    Participant.Status.TECHNICAL_PROBLEM: StepKind.ENDED,
}


def participant_has_begun(participant: Participant) -> bool:
    """Allowed to work on tasks: allocated, instructions read and, where the study has
    one, the attention check passed. (The chat socket may use this too.)"""
    if participant.arm_id is None or participant.instructions_read_at is None:
        return False
    return participant.check_passed_at is not None or not participant.study.has_check


def participant_current_step(participant: Participant) -> Step:
    """The step the participant is on, from stored state only (so a reload resumes it)."""
    if participant.status in _TERMINAL:
        return Step(_TERMINAL[Participant.Status(participant.status)])
    if participant.status == Participant.Status.STARTED:
        return Step(StepKind.CONSENT)
    if participant.arm_id is None:
        # Consented but not yet allocated: only a screening question stands in between.
        return Step(StepKind.SCREENING)
    questionnaires = study_questionnaires(study_id=participant.study_id)
    answered = participant_answered(participant_id=participant.pk) if questionnaires else set()
    if participant.instructions_read_at is None:
        pending = pending_before_instructions(questionnaires, answered)
        if pending is not None:
            return Step(StepKind.QUESTIONNAIRE, questionnaire_id=pending.questionnaire_id)
        return Step(StepKind.INSTRUCTIONS)
    if participant.study.has_check and participant.check_passed_at is None:
        return Step(StepKind.CHECK)
    tasks = list(
        Task.objects.filter(participant=participant)
        .select_related("scenario")
        .order_by("position")
    )
    pending = pending_after_tasks(questionnaires, answered, tasks) if questionnaires else None
    if pending is not None:
        return Step(
            StepKind.QUESTIONNAIRE,
            task_count=len(tasks),
            questionnaire_id=pending.questionnaire_id,
            questionnaire_task=next((t for t in tasks if t.pk == pending.task_id), None),
        )
    current = next((t for t in tasks if t.status != Task.Status.DONE), None)
    if current is None:
        # Not reached in the normal flow: answer_submit completes the participant in the
        # same transaction as the last answer. After a manual edit, someone who answered
        # everything still gets their code; someone with no tasks at all does not.
        return Step(StepKind.COMPLETE if tasks else StepKind.ENDED, task_count=len(tasks))
    if current.status == Task.Status.ANSWERING:
        kind = StepKind.ANSWER
    elif participant.arm is not None and participant.arm.is_llm:
        kind = StepKind.CHAT
    else:
        kind = StepKind.SOURCES
    return Step(kind, task=current, task_count=len(tasks))


def study_disposition_levels(*, study: Study) -> Sequence[DispositionLevel]:
    """The study's care levels, most acute first (the order the answer form shows)."""
    return list(
        DispositionLevel.objects.filter(scale_id=study.disposition_scale_id).order_by("-value")
    )


def participant_find_for_entry(
    *, study: Study, prolific_pid: str, held_link_ids: Sequence[str]
) -> Participant | None:
    """The participant an entry link points at, if any (whether this browser may resume
    them is access.participant_may_resume's question).

    With a PID, only that PID's participant counts (a shared browser must not hand one
    recruit's session to another). Without one, the newest participant of this study
    that this browser already holds.
    """
    participants = Participant.objects.filter(study=study).select_related("study")
    if prolific_pid:
        return participants.filter(prolific_pid=prolific_pid).first()
    if not held_link_ids:
        return None
    return participants.filter(link_id__in=list(held_link_ids)).order_by("-created_at").first()


# --- The participant flow of a study (CONSORT) -----------------------------------------


@dataclass
class FlowCounts:
    """Raw counts behind a CONSORT diagram, read from the ledger and the event log.

    Events survive withdrawal (anonymous), so these counts do too. Each kind happens at
    most once per participant, so counting events counts participants.
    """

    # {event kind: n} over the whole study (enrolment, before allocation).
    events: dict[str, int] = field(default_factory=dict)
    # {arm id: {event kind: n}} for events of allocated participants.
    events_by_arm: dict[int, dict[str, int]] = field(default_factory=dict)
    # {arm id: n}: ledger rows assigned to a participant.
    allocated: dict[int, int] = field(default_factory=dict)
    # {arm id: n}: ledger slots skipped because the arm was full.
    skipped: dict[int, int] = field(default_factory=dict)
    # {arm id: {status: n}}: participants as they are now (withdrawn ones are gone).
    current: dict[int, dict[str, int]] = field(default_factory=dict)


def study_flow_counts(*, study: Study, include_pilot: bool = False) -> FlowCounts:
    """Three aggregate queries, whatever the number of participants. The main phase's
    flow; the pilot's too only with `include_pilot`."""
    counts = FlowCounts()
    events = (
        # Events of simulated patients are not part of the flow; a withdrawn participant's
        # events keep no link and still count.
        ParticipantEvent.objects.of_humans(include_pilot=include_pilot)
        .filter(study=study)
        .order_by()
        .values_list("kind", "arm_id")
        .annotate(n=Count("pk"))
    )
    for kind, arm_id, n in events:
        counts.events[kind] = counts.events.get(kind, 0) + n
        if arm_id is not None:
            per_arm = counts.events_by_arm.setdefault(arm_id, {})
            per_arm[kind] = per_arm.get(kind, 0) + n
    ledger = (
        # The slots closed at launch were nobody's: no arm was full.
        Allocation.objects.filter(study=study)
        .exclude(outcome=Allocation.Outcome.PILOT_END)
        .filter(Q() if include_pilot else Q(is_pilot=False))
        .order_by()
        .values_list("arm_id", "outcome")
        .annotate(n=Count("pk"))
    )
    for arm_id, outcome, n in ledger:
        target = counts.allocated if outcome == Allocation.Outcome.ASSIGNED else counts.skipped
        target[arm_id] = target.get(arm_id, 0) + n
    current = (
        Participant.objects.humans(include_pilot=include_pilot)
        .filter(study=study, arm__isnull=False)
        .order_by()
        .values_list("arm_id", "status")
        .annotate(n=Count("pk"))
    )
    for arm_id, status, n in current:
        counts.current.setdefault(arm_id, {})[status] = n
    return counts


# --- Where participants are now (participation.states) ----------------------------------


def _state_annotations(study: Study) -> dict:
    """What state_of needs beyond the row: whether the tasks began, and the current task's
    status and position (the first not done)."""
    current = Task.objects.filter(participant=OuterRef("pk")).exclude(status=Task.Status.DONE)
    return {
        "began": ExpressionWrapper(
            began_q(study_has_check=study.has_check), output_field=BooleanField()
        ),
        "task_status": Subquery(current.order_by("position").values("status")[:1]),
        "position": Subquery(current.order_by("position").values("position")[:1]),
    }


def _row_state(*, status: str, arm_id: int | None, began: bool, task_status: str | None) -> State:
    return state_of(
        status=status,
        allocated=arm_id is not None,
        began=bool(began),
        answering=task_status == Task.Status.ANSWERING,
    )


@dataclass
class StateCounts:
    """Participants per state (participation.states), per arm (None: no arm)."""

    # {arm id or None: {state: n}}; withdrawn ones from the event log, under the arm they
    # had when they withdrew.
    by_arm: dict[int | None, dict[State, int]] = field(default_factory=dict)
    # {k: n} of those at scenario k or answering it (the position of their current task).
    at_position: dict[int, int] = field(default_factory=dict)
    # {arm id or None: {Participant.status: n}} of the participants there are (withdrawn
    # ones have none), read by the same query for the pages that show stored statuses.
    by_status: dict[int | None, dict[str, int]] = field(default_factory=dict)
    # The pilot's participants there are (withdrawn ones have none), counted by the same
    # query whether or not they are in the counts above.
    pilot: int = 0

    def add(self, arm_id: int | None, state: State, n: int) -> None:
        per_arm = self.by_arm.setdefault(arm_id, {})
        per_arm[state] = per_arm.get(state, 0) + n

    def total(self, state: State | None = None) -> int:
        return sum(
            n
            for per_arm in self.by_arm.values()
            for s, n in per_arm.items()
            if state is None or s == state
        )


def study_state_counts(*, study: Study, include_pilot: bool = False) -> StateCounts:
    """Every human participant who ever opened the link, by state and arm: two aggregate
    queries whatever the number of participants (the current task's status and position
    are correlated subqueries on the (participant, position) index). The pilot's only
    with `include_pilot`."""
    counts = StateCounts()
    rows = (
        Participant.objects.humans(include_pilot=True)
        .filter(study=study)
        .annotate(**_state_annotations(study))
        .order_by()
        .values_list("arm_id", "status", "began", "task_status", "position", "is_pilot")
        .annotate(n=Count("pk"))
    )
    for arm_id, status, began, task_status, position, is_pilot, n in rows:
        if is_pilot:
            counts.pilot += n
            if not include_pilot:
                continue
        state = _row_state(status=status, arm_id=arm_id, began=began, task_status=task_status)
        counts.add(arm_id, state, n)
        per_status = counts.by_status.setdefault(arm_id, {})
        per_status[status] = per_status.get(status, 0) + n
        if state in (State.AT_SCENARIO, State.ANSWERING) and position is not None:
            counts.at_position[position] = counts.at_position.get(position, 0) + n
    withdrawn = (
        ParticipantEvent.objects.of_humans(include_pilot=include_pilot)
        .filter(study=study, kind=ParticipantEvent.Kind.WITHDRAWN)
        .order_by()
        .values_list("arm_id")
        .annotate(n=Count("pk"))
    )
    for arm_id, n in withdrawn:
        counts.add(arm_id, State.WITHDRAWN, n)
    return counts


@dataclass(frozen=True)
class ActiveParticipant:
    """A participant still in the flow, as the live monitor lists them: ids, arm, state
    and times only (never anything they wrote)."""

    id: int
    arm_key: str | None
    state: State
    position: int | None  # the scenario they are at (AT_SCENARIO / ANSWERING)
    entered_at: datetime
    last_seen_at: datetime | None
    is_pilot: bool = False


def participants_active_recent(*, study: Study, limit: int = 20) -> list[ActiveParticipant]:
    """The `limit` participants still in the flow (participation.states.ACTIVE_STATES)
    seen most recently, newest first: one query. The pilot's too (labelled): whoever is
    in the study now is looked after."""
    rows = (
        Participant.objects.humans(include_pilot=True)
        .filter(study=study, status__in=(Participant.Status.STARTED, Participant.Status.CONSENTED))
        .annotate(**_state_annotations(study))
        .order_by(F("last_seen_at").desc(nulls_last=True), "-pk")
        .values_list(
            "pk",
            "arm__key",
            "arm_id",
            "status",
            "began",
            "task_status",
            "position",
            "created_at",
            "last_seen_at",
            "is_pilot",
        )[:limit]
    )
    return [
        ActiveParticipant(
            id=pk,
            arm_key=arm_key,
            state=_row_state(status=status, arm_id=arm_id, began=began, task_status=task),
            position=position,
            entered_at=entered,
            last_seen_at=seen,
            is_pilot=is_pilot,
        )
        for pk, arm_key, arm_id, status, began, task, position, entered, seen, is_pilot in rows
    ]


def study_participants_with_state(
    *, study: Study, include_pilot: bool = False
) -> QuerySet[Participant]:
    """The study's participants (simulated ones too, as in the exports; never an
    investigator's preview; the pilot's with `include_pilot`), oldest first, with what
    state_of needs annotated; `participant_state` reads a row's state (the REST API's
    pages)."""
    return (
        Participant.objects.filter(not_preview_q(include_pilot=include_pilot), study=study)
        .annotate(**_state_annotations(study))
        .order_by("pk")
    )


def participant_state(participant: Participant) -> State:
    """The state of a participant from study_participants_with_state."""
    return _row_state(
        status=participant.status,
        arm_id=participant.arm_id,
        began=participant.began,
        task_status=participant.task_status,
    )
