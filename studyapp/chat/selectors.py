"""Reads for conversations, and the pure rules they rest on (turns, history for the model)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from studyapp.chat.models import Conversation, Message
from studyapp.participation.models import Task

FAILED_STATUSES = (Message.Status.INTERRUPTED, Message.Status.ERROR)


@dataclass(frozen=True)
class TurnState:
    """turns_used counts participant messages (the limit); completed ones got a full reply."""

    turns_used: int
    completed_turns: int
    min_turns: int
    max_turns: int

    @property
    def can_finish(self) -> bool:
        return self.completed_turns >= self.min_turns

    @property
    def turns_left(self) -> int:
        return max(self.max_turns - self.turns_used, 0)


@dataclass(frozen=True)
class HistoryItem:
    id: int
    sequence: int
    role: str
    text: str
    status: str
    client_message_id: str | None
    reply_to_id: int | None
    created_at: datetime
    heartbeat_at: datetime | None = None

    def is_stale(self, cutoff: datetime) -> bool:
        """A reply still streaming whose writer stopped renewing it before `cutoff`."""
        return (
            self.role == Message.Role.ASSISTANT
            and self.status == Message.Status.STREAMING
            and (self.heartbeat_at or self.created_at) < cutoff
        )


@dataclass(frozen=True)
class ConversationSnapshot:
    """What a participant's chat shows when it (re)connects."""

    conversation_id: int
    messages: list[HistoryItem]
    turns: TurnState
    in_flight: bool
    can_retry: bool
    task_active: bool
    # The model failed this many replies in a row, and the study offers its technical
    # exit after that many (technical_exit_offered).
    technical_exit: bool = False


def stale_before(now: datetime | None = None) -> datetime:
    """A reply still streaming whose last heartbeat (or start) is older than this belongs to
    a process that died: a live writer renews it every CHAT_REPLY_SAVE_S."""
    return (now or timezone.now()) - timedelta(seconds=settings.CHAT_STALE_REPLY_S)


def model_messages(*, system_prompt: str, history: Iterable[HistoryItem]) -> list[dict]:
    """The chat for the model: system prompt, then complete user/assistant turns in order.

    Failed or interrupted replies are left out, and the participant messages around them
    merged, so the roles still alternate (many chat templates require it).
    """
    out: list[dict] = []
    if system_prompt.strip():
        out.append({"role": "system", "content": system_prompt})
    for item in history:
        if item.role == Message.Role.ASSISTANT and item.status != Message.Status.COMPLETE:
            continue
        if out and out[-1]["role"] == item.role:
            out[-1]["content"] = f"{out[-1]['content']}\n\n{item.text}"
        else:
            out.append({"role": item.role, "content": item.text})
    return out


def turn_state_from(
    *, history: Sequence[HistoryItem], min_turns: int, max_turns: int
) -> TurnState:
    """Pure: the turn counts of a history already in memory.

    A turn is a participant message that got a complete reply, plus the latest message
    while it still awaits one. A message whose reply failed and that the participant
    followed with a new message (instead of "Try again") uses no turn: the model then sees
    both texts together (model_messages), and a failure must not cost a turn.
    """
    complete_replies = {
        m.reply_to_id
        for m in history
        if m.role == Message.Role.ASSISTANT and m.status == Message.Status.COMPLETE
    }
    users = [m for m in history if m.role == Message.Role.USER]
    completed = sum(1 for m in users if m.id in complete_replies)
    awaiting = 1 if users and users[-1].id not in complete_replies else 0
    return TurnState(
        turns_used=completed + awaiting,
        completed_turns=completed,
        min_turns=min_turns,
        max_turns=max_turns,
    )


def retry_target(history: Sequence[HistoryItem], *, now: datetime | None = None) -> int | None:
    """The participant message to answer again, if the last reply failed (or never began)."""
    if not history:
        return None
    last = history[-1]
    stale = last.is_stale(stale_before(now))
    if last.role == Message.Role.ASSISTANT and (last.status in FAILED_STATUSES or stale):
        return last.reply_to_id
    if last.role == Message.Role.USER:
        return last.id
    return None


def failures_in_a_row(history: Iterable[HistoryItem]) -> int:
    """Pure: failed replies (error or interrupted) since the last complete one.

    A reply still streaming neither counts nor resets the count: a "Try again" under way
    has not yet succeeded. Participant messages in between (a new message instead of a
    retry) do not reset it either: only a complete reply shows the model works again.
    """
    return _trailing_failures(m.status for m in history if m.role == Message.Role.ASSISTANT)


def _trailing_failures(reply_statuses: Iterable[str]) -> int:
    count = 0
    for status in reply_statuses:
        if status == Message.Status.COMPLETE:
            count = 0
        elif status in FAILED_STATUSES:
            count += 1
    return count


def technical_exit_offered(*, failures: int, threshold: int, task_active: bool) -> bool:
    """Pure: whether the chat offers "Leave the study: technical problem" (threshold 0:
    never)."""
    return task_active and threshold > 0 and failures >= threshold


def conversation_technical_exit(*, conversation_id: int) -> bool:
    """The technical exit for a conversation as stored now (two short reads): what the
    chat's end frame says after a failed reply. A dead process's reply still streaming
    is not counted here; the history frame (conversation_snapshot) counts it once stale."""
    task_status, threshold = Conversation.objects.values_list(
        "task__status", "task__participant__study__technical_exit_after"
    ).get(pk=conversation_id)
    if threshold == 0 or task_status != Task.Status.ACTIVE:
        return False
    statuses = (
        Message.objects.filter(conversation_id=conversation_id, role=Message.Role.ASSISTANT)
        .in_order()
        .values_list("status", flat=True)
    )
    return technical_exit_offered(
        failures=_trailing_failures(statuses), threshold=threshold, task_active=True
    )


def reply_in_flight(history: Iterable[HistoryItem], *, now: datetime | None = None) -> bool:
    cutoff = stale_before(now)
    return any(
        m.role == Message.Role.ASSISTANT
        and m.status == Message.Status.STREAMING
        and not m.is_stale(cutoff)
        for m in history
    )


def conversation_for_task(*, task_id: int) -> Conversation | None:
    return Conversation.objects.filter(task_id=task_id).first()


def conversation_history(*, conversation_id: int) -> list[HistoryItem]:
    rows = (
        Message.objects.filter(conversation_id=conversation_id)
        .in_order()
        .values_list(
            "id",
            "sequence",
            "role",
            "text",
            "status",
            "client_message_id",
            "reply_to_id",
            "created_at",
            "heartbeat_at",
        )
    )
    return [HistoryItem(*row) for row in rows]


def conversation_turn_state(*, conversation_id: int) -> TurnState:
    """Turn counts (the conversation's limits and its messages: one short list per chat)."""
    conversation = Conversation.objects.only("min_turns", "max_turns").get(pk=conversation_id)
    return turn_state_from(
        history=conversation_history(conversation_id=conversation_id),
        min_turns=conversation.min_turns,
        max_turns=conversation.max_turns,
    )


@dataclass(frozen=True)
class Guard:
    """A conversation's blinding guard: its arm's terms, and the words shown instead
    (None: recorded only)."""

    terms: tuple[str, ...] = ()
    replacement: str | None = None


def conversation_guard(*, conversation_id: int) -> Guard:
    terms, replacement = Conversation.objects.values_list(
        "blinding_terms", "blinding_replacement"
    ).get(pk=conversation_id)
    return Guard(terms=tuple(terms or ()), replacement=replacement)


def conversation_snapshot(*, conversation_id: int) -> ConversationSnapshot:
    conversation = Conversation.objects.select_related("task__participant__study").get(
        pk=conversation_id
    )
    cutoff = stale_before()
    # A dead process's reply shows as what it is (interrupted, its saved text kept); the
    # next write to the conversation records it so (services._lock_with_history).
    history = [
        replace(m, status=Message.Status.INTERRUPTED) if m.is_stale(cutoff) else m
        for m in conversation_history(conversation_id=conversation_id)
    ]
    in_flight = reply_in_flight(history)
    task_active = conversation.task.status == Task.Status.ACTIVE
    return ConversationSnapshot(
        conversation_id=conversation_id,
        messages=history,
        turns=turn_state_from(
            history=history, min_turns=conversation.min_turns, max_turns=conversation.max_turns
        ),
        in_flight=in_flight,
        can_retry=task_active and not in_flight and retry_target(history) is not None,
        task_active=task_active,
        technical_exit=technical_exit_offered(
            failures=failures_in_a_row(history),
            threshold=conversation.task.participant.study.technical_exit_after,
            task_active=task_active,
        ),
    )
