"""Writes for conversations: the conversation snapshot, participant messages, model replies.

Database work is plain synchronous Django in short transactions (a row lock on the
conversation serialises everything that changes one chat), so no transaction ever stays
open while a model streams. The chat socket's hot path (a turn's transaction, the reply's
saves and final update) goes through the async entry points below: on PostgreSQL the same
transactions run as plain statements on the event loop (chat.pgturns, decided by the same
pure checks: check_send, check_begin, check_retry); elsewhere these functions run on
Channels' database thread (database_sync_to_async).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_lazy

from studyapp.chat import pgturns
from studyapp.chat.blinding import clean_terms, occurrences
from studyapp.chat.llm import EndpointConfig, LLMError, OpenAICompatibleClient, Usage
from studyapp.chat.models import Conversation, Message
from studyapp.chat.selectors import (
    HistoryItem,
    TurnState,
    conversation_history,
    conversation_turn_state,
    model_messages,
    reply_in_flight,
    retry_target,
    stale_before,
    turn_state_from,
)
from studyapp.core import metrics
from studyapp.participation.models import Task
from studyapp.participation.services import participant_mark_seen
from studyapp.studies.models import SAMPLING_KEYS, Study

logger = logging.getLogger(__name__)

STALE_ERROR = "stale: no end recorded"


def _too_long() -> str:
    return gettext("Your message is too long. Please keep it to %(max)s characters or fewer.") % {
        "max": settings.CHAT_MAX_MESSAGE_CHARS
    }


def refusal_message(code: str) -> str:
    """What the participant reads when a chat action is refused: lazy, so that it is
    written in the participant's language when the consumer sends it."""
    messages = {
        "empty": gettext_lazy("Please type a message first."),
        "too_long": lazy(_too_long, str)(),
        "max_turns": gettext_lazy(
            "You have used all your messages for this scenario. "
            "Press Finish to go on to the questions."
        ),
        "in_flight": gettext_lazy("Please wait until the assistant has finished its reply."),
        "finished": gettext_lazy("This part of the study is finished, so the chat is closed."),
        "nothing_to_retry": gettext_lazy("There is no failed reply to try again."),
        "not_llm": gettext_lazy("There is no chat in this part of the study."),
    }
    return messages.get(code, gettext_lazy("That did not work. Please try again."))


class ChatRefused(Exception):
    """A chat action the rules do not allow; `message` is safe to show the participant."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or refusal_message(code)
        super().__init__(code)


@dataclass(frozen=True)
class StoredMessage:
    message_id: int
    sequence: int
    client_message_id: str | None
    # The same client id was sent before: nothing new was stored.
    duplicate: bool
    # The message still needs a reply (new, or a resend whose reply never began).
    needs_reply: bool


@dataclass(frozen=True)
class ReplyPlan:
    """A reply about to stream: its message row, and what goes to the model."""

    message_id: int
    conversation_id: int
    sequence: int
    endpoint: EndpointConfig
    messages: list[dict]
    params: dict[str, Any]
    # The arm's blinding terms: their occurrences are recorded when the reply ends.
    blinding_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplyEvent:
    """What reply_stream yields: "start", then "delta"s, then "end" (not after a cancel)."""

    kind: str
    sequence: int
    text: str = ""
    status: str = ""
    error_code: str = ""
    turns: TurnState | None = None


# --- conversations ---------------------------------------------------------------------


def conversation_get_or_create(*, task: Task) -> Conversation:
    """The task's conversation, created on first use with a frozen snapshot of the arm."""
    existing = Conversation.objects.filter(task_id=task.pk).first()
    if existing is not None:
        return existing
    task = Task.objects.select_related(
        "participant__arm__endpoint", "participant__arm__study"
    ).get(pk=task.pk)
    arm = task.participant.arm
    if arm is None or not arm.is_llm or arm.endpoint is None:
        raise ChatRefused("not_llm")
    if task.status != Task.Status.ACTIVE:
        raise ChatRefused("finished")
    endpoint = arm.endpoint
    # No full_clean(): every value is copied from rows that were validated when saved.
    conversation = Conversation(
        task=task,
        arm=arm,
        endpoint=endpoint,
        base_url=endpoint.base_url,
        model=endpoint.model,
        is_scripted=endpoint.is_scripted,
        is_test_model=endpoint.is_test_model,
        system_prompt=arm.system_prompt,
        sampling_params={
            k: v for k, v in (arm.sampling_params or {}).items() if k in SAMPLING_KEYS
        },
        min_turns=arm.min_turns,
        max_turns=arm.max_turns,
        # The deadline of a whole reply: the arm's own, else the endpoint's.
        timeout_s=arm.reply_timeout_s or endpoint.timeout_s,
        blinding_terms=clean_terms(arm.blinding_terms or []),
        blinding_replacement=(
            arm.study.blinding_replacement
            if arm.study.blinding_action == Study.BlindingAction.REPLACE
            else None
        ),
    )
    try:
        with transaction.atomic():
            conversation.save()
    except IntegrityError:
        # Two sockets opened at once: the other one created it.
        return Conversation.objects.get(task_id=task.pk)
    logger.info("chat: conversation %s created for task %s", conversation.pk, task.pk)
    return conversation


def _lock_with_history(
    conversation_id: int, now: datetime
) -> tuple[Conversation, list[HistoryItem]]:
    """Lock the conversation row and read its messages (one short list per chat).

    Every rule below is decided on this list in memory, so a turn costs a handful of
    queries. Replies left streaming by a process that died are marked interrupted here.
    """
    # of=self: lock only the conversation row, not the joined task and endpoint.
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("task", "endpoint")
        .get(pk=conversation_id)
    )
    history = conversation_history(conversation_id=conversation_id)
    cutoff = stale_before(now)
    stale = [m.id for m in history if m.is_stale(cutoff)]
    if stale:
        Message.objects.filter(pk__in=stale).update(
            status=Message.Status.INTERRUPTED, error=STALE_ERROR, completed_at=now
        )
        logger.warning("chat: %s stale reply(s) in conversation %s", len(stale), conversation_id)
        history = [
            replace(m, status=Message.Status.INTERRUPTED) if m.id in stale else m for m in history
        ]
    return conversation, history


def _next_sequence(history: list[HistoryItem]) -> int:
    return (history[-1].sequence if history else 0) + 1


def _refuse_if_reply_in_flight(history: list[HistoryItem], now: datetime) -> None:
    """One reply at a time per conversation."""
    if reply_in_flight(history, now=now):
        raise ChatRefused("in_flight")


def _refuse_unless_active(task_status: str) -> None:
    if task_status != Task.Status.ACTIVE:
        raise ChatRefused("finished")


def clean_message_text(text: object) -> str:
    """Pure: the text to store, or ChatRefused("empty" / "too_long")."""
    if not isinstance(text, str):
        raise ChatRefused("empty")
    cleaned = text.strip()
    if not cleaned:
        raise ChatRefused("empty")
    if len(cleaned) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatRefused("too_long")
    return cleaned


# --- participant messages ----------------------------------------------------------------


def _store_user_locked(
    conversation: Conversation,
    history: list[HistoryItem],
    *,
    text: str,
    client_message_id: str | None,
    now: datetime,
) -> tuple[StoredMessage, list[HistoryItem]]:
    """Store a participant message in a conversation locked by the caller (idempotent by
    client id); returns it and the history with it."""
    cleaned = clean_message_text(text)
    duplicate = check_send(
        history,
        task_status=conversation.task.status,
        min_turns=conversation.min_turns,
        max_turns=conversation.max_turns,
        client_message_id=client_message_id,
        now=now,
    )
    if duplicate is not None:
        return duplicate, history
    message = Message(
        conversation=conversation,
        sequence=_next_sequence(history),
        role=Message.Role.USER,
        text=cleaned,
        status=Message.Status.COMPLETE,
        client_message_id=client_message_id or None,
        completed_at=now,
    )
    # The row lock and the database constraints guard uniqueness, and the conversation
    # was just read: skip the queries full_clean would spend re-checking them.
    message.full_clean(exclude=["conversation", "reply_to"], validate_constraints=False)
    message.save()
    participant_mark_seen(participant_id=conversation.task.participant_id, now=now)
    logger.info(
        "chat: user message %s (seq %s, %s chars) in conversation %s",
        message.pk,
        message.sequence,
        len(cleaned),
        conversation.pk,
    )
    stored = StoredMessage(
        message_id=message.pk,
        sequence=message.sequence,
        client_message_id=message.client_message_id,
        duplicate=False,
        needs_reply=True,
    )
    item = HistoryItem(
        id=message.pk,
        sequence=message.sequence,
        role=message.role,
        text=message.text,
        status=message.status,
        client_message_id=message.client_message_id,
        reply_to_id=None,
        created_at=message.created_at,
    )
    return stored, [*history, item]


@transaction.atomic
def message_store_user(
    *,
    conversation_id: int,
    text: str,
    client_message_id: str | None = None,
    now: datetime | None = None,
) -> StoredMessage:
    """Store a participant message before anything else happens (idempotent by client id)."""
    now = now or timezone.now()
    clean_message_text(text)  # refuse before taking the lock
    conversation, history = _lock_with_history(conversation_id, now)
    stored, _history = _store_user_locked(
        conversation, history, text=text, client_message_id=client_message_id, now=now
    )
    return stored


@transaction.atomic
def message_store_and_begin(
    *,
    conversation_id: int,
    text: str,
    client_message_id: str | None = None,
    now: datetime | None = None,
) -> tuple[StoredMessage, ReplyPlan | None]:
    """A participant's turn in one transaction: store their message (idempotent by client
    id) and, when it needs a reply, create the streaming reply row and plan the request.

    The chat's hot path: one lock, one read of the history, before the ack and the model
    call (message_store_user then reply_begin took two, each queued on the database thread).
    """
    now = now or timezone.now()
    clean_message_text(text)
    conversation, history = _lock_with_history(conversation_id, now)
    stored, history = _store_user_locked(
        conversation, history, text=text, client_message_id=client_message_id, now=now
    )
    if not stored.needs_reply:
        return stored, None
    return stored, _begin_locked(conversation, history, stored.message_id, now)


def check_send(
    history: list[HistoryItem],
    *,
    task_status: str,
    min_turns: int,
    max_turns: int,
    client_message_id: str | None,
    now: datetime,
) -> StoredMessage | None:
    """Pure: may a new participant message be stored in this (locked) conversation?

    Returns the stored message a resent client id names (nothing new is stored: the
    send is idempotent), None when a new message may be stored, or raises ChatRefused.
    Shared by the ORM path and the async PostgreSQL path (chat.pgturns).
    """
    if client_message_id:
        existing = next((m for m in history if m.client_message_id == client_message_id), None)
        if existing is not None:
            return StoredMessage(
                message_id=existing.id,
                sequence=existing.sequence,
                client_message_id=client_message_id,
                duplicate=True,
                needs_reply=_still_needs_reply(task_status, history, existing),
            )
    _refuse_unless_active(task_status)
    _refuse_if_reply_in_flight(history, now)
    # A participant message whose reply failed is superseded by this one (it uses no turn).
    turns = turn_state_from(history=history, min_turns=min_turns, max_turns=max_turns)
    if turns.completed_turns >= max_turns:
        raise ChatRefused("max_turns")
    return None


def _still_needs_reply(task_status: str, history: list[HistoryItem], message: HistoryItem) -> bool:
    """A resent message whose reply never began (the socket dropped right after storing)."""
    if task_status != Task.Status.ACTIVE or message.role != Message.Role.USER:
        return False
    return history[-1].id == message.id


def check_retry(history: list[HistoryItem], *, task_status: str, now: datetime) -> int:
    """Pure: the participant message "Try again" answers, or ChatRefused."""
    _refuse_unless_active(task_status)
    _refuse_if_reply_in_flight(history, now)
    target = retry_target(history, now=now)
    if target is None:
        raise ChatRefused("nothing_to_retry")
    return target


def check_begin(
    history: list[HistoryItem], *, task_status: str, user_message_id: int, now: datetime
) -> None:
    """Pure: may a reply to `user_message_id` begin (else ChatRefused)?"""
    _refuse_unless_active(task_status)
    _refuse_if_reply_in_flight(history, now)
    if retry_target(history, now=now) != user_message_id:
        # Only the latest participant message, and only while it has no complete reply.
        raise ChatRefused("nothing_to_retry")


@transaction.atomic
def message_retry(*, conversation_id: int, now: datetime | None = None) -> int:
    """Check that the last reply may be retried; returns the participant message to answer.

    The failed reply stays stored, marked interrupted or error; the retry is a new message.
    """
    now = now or timezone.now()
    conversation, history = _lock_with_history(conversation_id, now)
    return check_retry(history, task_status=conversation.task.status, now=now)


@transaction.atomic
def message_retry_and_begin(
    *, conversation_id: int, now: datetime | None = None
) -> tuple[int, ReplyPlan]:
    """ "Try again" in one transaction: the participant message to answer, and its new
    reply's streaming row and plan (as message_store_and_begin does for a send)."""
    now = now or timezone.now()
    conversation, history = _lock_with_history(conversation_id, now)
    target = check_retry(history, task_status=conversation.task.status, now=now)
    return target, _begin_locked(conversation, history, target, now)


async def turn_store_and_begin(
    *, conversation_id: int, text: str, client_message_id: str | None
) -> tuple[StoredMessage, ReplyPlan | None]:
    """message_store_and_begin for the chat socket: on PostgreSQL as plain statements on
    the event loop (chat.pgturns), elsewhere on the ORM through Channels' database thread."""
    if pgturns.enabled():
        return await _shielded(
            pgturns.turn_store_and_begin(
                conversation_id=conversation_id, text=text, client_message_id=client_message_id
            )
        )
    return await database_sync_to_async(message_store_and_begin)(
        conversation_id=conversation_id, text=text, client_message_id=client_message_id
    )


async def turn_retry_and_begin(*, conversation_id: int) -> tuple[int, ReplyPlan]:
    """message_retry_and_begin for the chat socket (see turn_store_and_begin)."""
    if pgturns.enabled():
        return await _shielded(pgturns.turn_retry_and_begin(conversation_id=conversation_id))
    return await database_sync_to_async(message_retry_and_begin)(conversation_id=conversation_id)


async def _shielded(work):
    """Run a turn's transaction to its end even if the caller is cancelled (as a call on
    the database thread runs to its end): a cancel never cuts a transaction mid-way. A
    reply row begun for a caller that has gone is marked interrupted, or the chat would
    look busy until the stale-reply sweep."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        _keep(future)
        future.add_done_callback(_interrupt_orphan_turn)
        raise


def _interrupt_orphan_turn(done: asyncio.Future) -> None:
    if done.cancelled() or done.exception() is not None:
        return
    _first, plan = done.result()
    if plan is None:
        return
    outcome = ReplyOutcome("", Message.Status.INTERRUPTED, None, 0.0, None, "", "cancelled")
    _keep(asyncio.ensure_future(_reply_finish(plan=plan, outcome=outcome)))


# --- model replies -----------------------------------------------------------------------


@transaction.atomic
def reply_begin(*, conversation_id: int, user_message_id: int) -> ReplyPlan:
    """Create the streaming assistant message and assemble what the model will be sent."""
    now = timezone.now()
    conversation, history = _lock_with_history(conversation_id, now)
    return _begin_locked(conversation, history, user_message_id, now)


def _begin_locked(
    conversation: Conversation, history: list[HistoryItem], user_message_id: int, now: datetime
) -> ReplyPlan:
    check_begin(
        history, task_status=conversation.task.status, user_message_id=user_message_id, now=now
    )
    message = Message.objects.create(
        conversation=conversation,
        sequence=_next_sequence(history),
        role=Message.Role.ASSISTANT,
        text="",
        status=Message.Status.STREAMING,
        reply_to_id=user_message_id,
        heartbeat_at=now,
    )
    endpoint = EndpointConfig.from_endpoint(
        conversation.endpoint,
        base_url=conversation.base_url,
        model=conversation.model,
        timeout_s=conversation.timeout_s,
    )
    return ReplyPlan(
        message_id=message.pk,
        conversation_id=conversation.pk,
        sequence=message.sequence,
        endpoint=endpoint,
        messages=model_messages(system_prompt=conversation.system_prompt, history=history),
        params=dict(conversation.sampling_params),
        blinding_terms=tuple(conversation.blinding_terms or ()),
    )


@dataclass(frozen=True)
class ReplyOutcome:
    text: str
    status: str
    time_to_first_token_ms: float | None
    duration_ms: float
    usage: Usage | None
    finish_reason: str
    error: str


def reply_finish(*, plan: ReplyPlan, outcome: ReplyOutcome) -> TurnState:
    """Store how a reply ended (whatever happened) and return the new turn counts."""
    Message.objects.filter(pk=plan.message_id).update(
        text=outcome.text,
        status=outcome.status,
        time_to_first_token_ms=outcome.time_to_first_token_ms,
        duration_ms=outcome.duration_ms,
        prompt_tokens=outcome.usage.prompt_tokens if outcome.usage else None,
        completion_tokens=outcome.usage.completion_tokens if outcome.usage else None,
        finish_reason=outcome.finish_reason[:30],
        error=outcome.error[:200],
        completed_at=timezone.now(),
        blinding_hits=[o.as_dict() for o in occurrences(outcome.text, plan.blinding_terms)],
    )
    logger.info(
        "chat: reply %s %s (%s chars, ttft %s ms, %.0f ms)",
        plan.message_id,
        outcome.status,
        len(outcome.text),
        None if outcome.time_to_first_token_ms is None else round(outcome.time_to_first_token_ms),
        outcome.duration_ms,
    )
    return conversation_turn_state(conversation_id=plan.conversation_id)


async def _reply_finish(*, plan: ReplyPlan, outcome: ReplyOutcome) -> TurnState:
    if pgturns.enabled():
        return await pgturns.reply_finish(plan=plan, outcome=outcome)
    return await database_sync_to_async(reply_finish)(plan=plan, outcome=outcome)


async def _reply_save_partial(*, message_id: int, text: str) -> bool:
    if pgturns.enabled():
        return await pgturns.reply_save_partial(message_id=message_id, text=text)
    return await database_sync_to_async(reply_save_partial)(message_id=message_id, text=text)


# Background writes that must outlive a cancelled reply (kept referenced until done).
_background: set[asyncio.Future] = set()


def _keep(future: asyncio.Future) -> None:
    _background.add(future)
    future.add_done_callback(_background.discard)


async def _begin_shielded(*, conversation_id: int, user_message_id: int) -> ReplyPlan:
    begin = asyncio.ensure_future(
        database_sync_to_async(reply_begin)(
            conversation_id=conversation_id, user_message_id=user_message_id
        )
    )
    try:
        return await asyncio.shield(begin)
    except asyncio.CancelledError:
        # Cancelled while the row was being created: mark it interrupted once it exists,
        # or the conversation would look busy until the stale-reply sweep.
        _keep(begin)
        begin.add_done_callback(_interrupt_orphan)
        raise


def _interrupt_orphan(begin: asyncio.Future) -> None:
    if begin.cancelled() or begin.exception() is not None:
        return
    outcome = ReplyOutcome("", Message.Status.INTERRUPTED, None, 0.0, None, "", "cancelled")
    _keep(asyncio.ensure_future(_reply_finish(plan=begin.result(), outcome=outcome)))


def reply_save_partial(*, message_id: int, text: str) -> bool:
    """Save a streaming reply's text so far and renew its heartbeat (nothing once it ended).

    So a reply whose process dies (kill -9, out of memory) keeps what the participant had
    read, at most CHAT_REPLY_SAVE_S behind, and is recognised as dead within
    CHAT_STALE_REPLY_S instead of locking the chat.
    """
    return bool(
        Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
            text=text, heartbeat_at=timezone.now()
        )
    )


async def _save_while_streaming(message_id: int, parts: list[str]) -> None:
    """Runs beside a reply: saves new text every CHAT_REPLY_SAVE_S, and renews the
    heartbeat while no text arrives (a slow first token), until cancelled."""
    interval = settings.CHAT_REPLY_SAVE_S
    heartbeat_every = max(interval, settings.CHAT_STALE_REPLY_S / 3)
    saved_parts = 0
    last_write = time.monotonic()
    while True:
        await asyncio.sleep(interval)
        # parts only grows, so its length says whether there is new text.
        if len(parts) == saved_parts and time.monotonic() - last_write < heartbeat_every:
            continue
        count = len(parts)
        try:
            await _reply_save_partial(message_id=message_id, text="".join(parts[:count]))
        except Exception:  # the database is away: keep streaming, try again next time
            logger.warning("chat: could not save reply %s in progress", message_id)
            continue
        saved_parts, last_write = count, time.monotonic()


def _incomplete(text: str, finish_reason: str) -> LLMError | None:
    """A stream that ended without a finish reason (cut, or an engine that dropped the
    request) or without any text is not a complete reply, whatever the engine says."""
    if not finish_reason:
        return LLMError("incomplete", "the stream ended without a finish reason")
    if not text.strip():
        return LLMError("empty", f"no text (finish reason {finish_reason[:20]})")
    return None


async def reply_stream(
    *,
    conversation_id: int,
    user_message_id: int,
    client_factory: Callable[[EndpointConfig], OpenAICompatibleClient] = OpenAICompatibleClient,
    plan: ReplyPlan | None = None,
) -> AsyncIterator[ReplyEvent]:
    """Answer a participant message: yields start, the text deltas, and end.

    The assistant message is stored however the stream ends: complete, error (LLMError,
    with the partial text), or interrupted (the consumer was cancelled or stopped early).
    While it streams, the text so far is saved every CHAT_REPLY_SAVE_S
    (_save_while_streaming), so a process that dies loses at most that much.
    `plan`: the reply row already created with the participant's message
    (message_store_and_begin); without it, reply_begin creates it here.
    Use it with contextlib.aclosing().
    """
    if plan is None:
        plan = await _begin_shielded(
            conversation_id=conversation_id, user_message_id=user_message_id
        )
    parts: list[str] = []
    started = time.monotonic()
    first_token_at: float | None = None
    usage: Usage | None = None
    finish_reason = ""
    status = Message.Status.INTERRUPTED
    error = "cancelled"
    error_code = ""
    saver = asyncio.create_task(_save_while_streaming(plan.message_id, parts))
    endpoint_label = str(plan.endpoint.endpoint_id)
    observe_gap = metrics.reply_token_gap_observer(endpoint_label)
    last_delta_at = started
    try:
        # Inside the try: a consumer that stops at this first yield still gets the row
        # marked interrupted.
        yield ReplyEvent("start", sequence=plan.sequence)
        client = client_factory(plan.endpoint)
        async with aclosing(client.stream_chat(plan.messages, plan.params)) as events:
            async for event in events:
                if event.usage is not None:
                    usage = event.usage
                if event.finish_reason:
                    finish_reason = event.finish_reason
                if event.delta:
                    now = time.monotonic()
                    if first_token_at is None:
                        first_token_at = now
                        metrics.reply_first_token(endpoint_label, now - started)
                    else:
                        observe_gap(now - last_delta_at)
                    last_delta_at = now
                    parts.append(event.delta)
                    yield ReplyEvent("delta", sequence=plan.sequence, text=event.delta)
        failure = _incomplete("".join(parts), finish_reason)
        if failure is not None:
            raise failure
        status, error = Message.Status.COMPLETE, ""
    except LLMError as exc:
        status, error, error_code = Message.Status.ERROR, exc.summary(), exc.code
    except Exception as exc:
        status, error = Message.Status.ERROR, f"internal: {type(exc).__name__}"
        raise
    finally:
        # Not awaited: a save still running matches no row once the final one has landed
        # (it only updates a reply that is still streaming).
        saver.cancel()
        metrics.reply_finished(endpoint_label, status, error_code)
        outcome = ReplyOutcome(
            text="".join(parts),
            status=status,
            time_to_first_token_ms=(
                None if first_token_at is None else (first_token_at - started) * 1000
            ),
            duration_ms=(time.monotonic() - started) * 1000,
            usage=usage,
            finish_reason=finish_reason,
            error=error,
        )
        store = asyncio.ensure_future(_reply_finish(plan=plan, outcome=outcome))
        _keep(store)
        # Shielded: a cancelled reply (the participant left) must still be stored.
        turns = await asyncio.shield(store)
    yield ReplyEvent(
        "end", sequence=plan.sequence, status=status, error_code=error_code, turns=turns
    )


def recover_stale_replies(*, now: datetime | None = None) -> int:
    """Mark replies left streaming by a process that died as interrupted."""
    now = now or timezone.now()
    count = (
        Message.objects.annotate(alive_at=Coalesce("heartbeat_at", "created_at"))
        .filter(
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            alive_at__lt=stale_before(now),
        )
        .update(status=Message.Status.INTERRUPTED, error=STALE_ERROR, completed_at=now)
    )
    if count:
        logger.warning("chat: marked %s stale reply(s) interrupted", count)
    return count
