"""Reads for participation: where a participant is in the flow, and what a page shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from studyapp.participation.models import Participant, Task
from studyapp.studies.models import DispositionLevel, Study


class StepKind(StrEnum):
    CONSENT = "consent"
    DECLINED = "declined"
    INSTRUCTIONS = "instructions"
    # Within a task: reading + chatting (LLM arm) or noting sources (control arm) ...
    CHAT = "chat"
    SOURCES = "sources"
    # ... then the questions.
    ANSWER = "answer"
    COMPLETE = "complete"
    # Screened out, timed out, withdrawn or returned: the session is over.
    ENDED = "ended"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    task: Task | None = None
    task_count: int = 0

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
}


def participant_current_step(participant: Participant) -> Step:
    """The step the participant is on, from stored state only (so a reload resumes it)."""
    if participant.status in _TERMINAL:
        return Step(_TERMINAL[Participant.Status(participant.status)])
    if participant.status == Participant.Status.STARTED:
        return Step(StepKind.CONSENT)
    if participant.instructions_read_at is None:
        return Step(StepKind.INSTRUCTIONS)
    tasks = list(
        Task.objects.filter(participant=participant)
        .select_related("scenario")
        .order_by("position")
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
    *, study: Study, prolific_pid: str, session_tokens: Sequence[str]
) -> Participant | None:
    """The participant an entry link should resume, if any.

    With a PID, only that PID's participant counts (a shared browser must not hand one
    recruit's session to another). Without one, the newest participant of this study
    that this browser already holds.
    """
    participants = Participant.objects.filter(study=study)
    if prolific_pid:
        return participants.filter(prolific_pid=prolific_pid).first()
    if not session_tokens:
        return None
    return participants.filter(token__in=list(session_tokens)).order_by("-created_at").first()
