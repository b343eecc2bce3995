"""Where a questionnaire falls in a participant's flow (pure: no ORM).

The participation flow asks `pending_*` with what it has read: the study's
questionnaires (in order), the (questionnaire id, task id or None) pairs this participant
has answered, and the task statuses. A questionnaire is asked at its placement only:

- after consent: allocated, instructions not yet read;
- after each scenario: for the last task answered, while the next one has not started
  (answer_submit leaves it pending while a questionnaire waits), so a questionnaire added
  to a live study never interrupts someone mid-scenario;
- at the end: every task answered, before the participant is completed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

PENDING = "pending"
DONE = "done"


class QuestionnaireLike(Protocol):
    pk: int
    placement: str


class TaskLike(Protocol):
    pk: int
    status: str


@dataclass(frozen=True)
class Pending:
    questionnaire_id: int
    # After each scenario: the task it is about; else None.
    task_id: int | None = None


def _first_unanswered(
    questionnaires: Iterable[QuestionnaireLike],
    placement: str,
    answered: set[tuple[int, int | None]],
    task_id: int | None,
) -> Pending | None:
    for questionnaire in questionnaires:
        if questionnaire.placement == placement and (questionnaire.pk, task_id) not in answered:
            return Pending(questionnaire.pk, task_id)
    return None


def pending_before_instructions(
    questionnaires: Sequence[QuestionnaireLike], answered: set[tuple[int, int | None]]
) -> Pending | None:
    return _first_unanswered(questionnaires, "after_consent", answered, None)


def pending_after_tasks(
    questionnaires: Sequence[QuestionnaireLike],
    answered: set[tuple[int, int | None]],
    tasks: Sequence[TaskLike],
) -> Pending | None:
    """`tasks` in position order."""
    done = [t for t in tasks if t.status == DONE]
    current = next((t for t in tasks if t.status != DONE), None)
    if done and (current is None or current.status == PENDING):
        pending = _first_unanswered(questionnaires, "after_each_scenario", answered, done[-1].pk)
        if pending is not None:
            return pending
    if current is None and tasks:
        return _first_unanswered(questionnaires, "end", answered, None)
    return None


def waits_after_answer(questionnaires: Sequence[QuestionnaireLike], *, last_task: bool) -> bool:
    """Whether a task just answered is followed by a questionnaire (so the next task must
    not start, or the participant not complete, yet). Nothing has answered them for a
    task that was just answered."""
    placements = {q.placement for q in questionnaires}
    return "after_each_scenario" in placements or (last_task and "end" in placements)
