"""The chat turn's database work on PostgreSQL, on the event loop (async psycopg).

Why: through the ORM, every socket of a process queued its turn on Channels' one database
thread (database_sync_to_async), and that thread fought the event loop for the interpreter
lock while replies streamed; the ORM's own CPU per turn (model instances, full_clean,
query compilation) came on top. Here the same transactions are a few plain statements on
a pool of persistent async connections, awaited on the event loop like the model's stream.

What it does is what chat.services does on the ORM, decided by the same pure rules
(services.check_send / check_begin / check_retry on the history read under the lock):

- turn_store_and_begin: lock the conversation (FOR UPDATE), read its history, mark a dead
  writer's reply interrupted, store the participant message (idempotent by client id),
  mark the participant seen, create the streaming reply row; one transaction;
- turn_retry_and_begin: the same lock and read, then the new reply row for "Try again";
- reply_finish / reply_save_partial: the reply's final update (and the new turn counts),
  and the text so far with a renewed heartbeat.

Other processes (views, Celery, the admin) keep writing through the ORM: both take the same
row lock, so the rules hold across them. SQLite keeps the ORM path (services): it has one
writer anyway. The SQL names the models' tables and columns (a test checks them against
_meta and that the insert covers every column of a message).

A pool belongs to one event loop (a server's loop is the process's; a test's ends with the
test) and is closed as its loop shuts down (asyncio.run closes async generators first:
_close_with_loop); a loop closed without that leaves its pool to close_dead_pools, which
runs whenever the next pool opens. Its sizes are Django's pool's, so a web process may
hold up to twice DB_POOL_MAX_SIZE connections (most of this pool's only under load).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db import connections
from django.utils import timezone
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from studyapp.chat.blinding import occurrences
from studyapp.chat.llm import EndpointConfig
from studyapp.chat.models import Conversation, Message
from studyapp.chat.selectors import (
    HistoryItem,
    TurnState,
    model_messages,
    stale_before,
    turn_state_from,
)
from studyapp.studies.models import ModelEndpoint

logger = logging.getLogger(__name__)


def enabled() -> bool:
    """The chat's turns run here when the database is PostgreSQL."""
    return connections["default"].vendor == "postgresql"


# --- SQL --------------------------------------------------------------------------------
# Plain statements, as the models name their tables and columns (tests/chat/test_pgturns.py
# checks every name against the models' _meta, and that the insert covers every column).

CONVERSATION_COLUMNS = (
    "min_turns", "max_turns", "system_prompt", "sampling_params", "base_url", "model",
    "timeout_s", "blinding_terms",
)  # fmt: skip
ENDPOINT_COLUMNS = (
    "id", "base_url", "model", "api_key_env", "timeout_s", "max_concurrent_streams",
    "evaluation_concurrency",
)  # fmt: skip
# OF c: lock only the conversation row, as services._lock_with_history does.
LOCK_SQL = """
SELECT c.min_turns, c.max_turns, c.system_prompt, c.sampling_params, c.base_url, c.model,
       c.timeout_s, c.blinding_terms, t.status, t.participant_id,
       e.id, e.base_url, e.model, e.api_key_env, e.timeout_s, e.max_concurrent_streams,
       e.evaluation_concurrency
FROM chat_conversation c
JOIN participation_task t ON t.id = c.task_id
JOIN studies_modelendpoint e ON e.id = c.endpoint_id
WHERE c.id = %s
FOR UPDATE OF c
"""
# HistoryItem's fields, in its order.
HISTORY_SQL = """
SELECT id, sequence, role, text, status, client_message_id, reply_to_id, created_at,
       heartbeat_at
FROM chat_message WHERE conversation_id = %s ORDER BY sequence
"""
LIMITS_SQL = "SELECT min_turns, max_turns FROM chat_conversation WHERE id = %s"
STALE_SQL = "UPDATE chat_message SET status = %s, error = %s, completed_at = %s WHERE id = ANY(%s)"
MESSAGE_COLUMNS = (
    "conversation_id", "sequence", "role", "text", "status", "client_message_id",
    "reply_to_id", "time_to_first_token_ms", "duration_ms", "prompt_tokens",
    "completion_tokens", "finish_reason", "error", "created_at", "heartbeat_at",
    "blinding_hits", "completed_at",
)  # fmt: skip


def _message_values(prefix: str, reply_to: str) -> str:
    """A message row's VALUES in MESSAGE_COLUMNS' order, from named parameters with
    `prefix`; the columns a new row leaves at their defaults are written out."""
    p = prefix
    return (
        f"(%({p}conversation_id)s, %({p}sequence)s, %({p}role)s, %({p}text)s, %({p}status)s, "
        f"%({p}client_message_id)s, {reply_to}, NULL, NULL, NULL, NULL, '', '', "
        f"%({p}created_at)s, %({p}heartbeat_at)s, '[]', %({p}completed_at)s)"
    )


_INSERT_MESSAGE = "INSERT INTO chat_message (" + ", ".join(MESSAGE_COLUMNS) + ")"
INSERT_MESSAGE_SQL = (
    f"{_INSERT_MESSAGE}\nVALUES {_message_values('', '%(reply_to_id)s')}\nRETURNING id"
)
# A new participant message, the participant marked seen and the reply's streaming row, in
# one statement (one round trip instead of three; a data-modifying WITH runs whole whether
# or not the outer statement reads it). Returns (the message's id, the reply's id).
TURN_SQL = f"""
WITH user_message AS (
    {_INSERT_MESSAGE}
    VALUES {_message_values("user_", "NULL")}
    RETURNING id
), seen AS (
    UPDATE participation_participant SET last_seen_at = %(now)s WHERE id = %(participant_id)s
)
{_INSERT_MESSAGE}
VALUES {_message_values("reply_", "(SELECT id FROM user_message)")}
RETURNING reply_to_id, id
"""  # noqa: S608
FINISH_SQL = """
UPDATE chat_message
SET text = %s, status = %s, time_to_first_token_ms = %s, duration_ms = %s,
    prompt_tokens = %s, completion_tokens = %s, finish_reason = %s, error = %s,
    completed_at = %s, blinding_hits = %s
WHERE id = %s
"""
SAVE_PARTIAL_SQL = (
    "UPDATE chat_message SET text = %s, heartbeat_at = %s WHERE id = %s AND status = %s"
)


def _message(**values: Any) -> dict[str, Any]:
    """A new message row's values (the rest of its columns are their defaults)."""
    return {"client_message_id": None, "reply_to_id": None, "heartbeat_at": None} | values


# --- the pool ------------------------------------------------------------------------------

_POOLS: dict[asyncio.AbstractEventLoop, AsyncConnectionPool] = {}
# When each connection last came back to its pool (the check above skips recent ones).
_RETURNED_AT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
CHECK_AFTER_IDLE_S = 1.0
_OPENING: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
_KEEPERS: dict[asyncio.AbstractEventLoop, AsyncIterator[None]] = {}
# Each pool's connections (weakly: the pool itself holds the live ones).
_CONNECTIONS: dict[asyncio.AbstractEventLoop, weakref.WeakSet] = {}


def close_dead_pools() -> None:
    """Close the connections of pools whose event loop has closed. Runs whenever a pool
    opens; tests call it before the test database is dropped."""
    for loop in [loop for loop in _POOLS if loop.is_closed()]:
        _discard(loop)


def _discard(loop: asyncio.AbstractEventLoop) -> None:
    """Close a loop's pool synchronously (libpq's own close of each connection): its loop
    is closed or shutting down, its tasks cancelled, so the pool's own close cannot run."""
    pool = _POOLS.pop(loop, None)  # kept alive until its connections are closed
    _OPENING.pop(loop, None)
    _KEEPERS.pop(loop, None)
    for conn in list(_CONNECTIONS.pop(loop, ())):
        if not conn.closed:
            conn.pgconn.finish()
    del pool


async def _pool() -> AsyncConnectionPool:
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is not None:
        return pool
    lock = _OPENING.setdefault(loop, asyncio.Lock())
    async with lock:
        pool = _POOLS.get(loop)
        if pool is None:
            close_dead_pools()
            pool = await _open_pool(loop)
            _POOLS[loop] = pool
    return pool


async def _open_pool(loop: asyncio.AbstractEventLoop) -> AsyncConnectionPool:
    database = connections["default"]
    # What Django connects with (the test database's name under tests), less its sync
    # cursor class and adapters: the async connection brings its own.
    params = database.get_connection_params()
    for key in ("cursor_factory", "context"):
        params.pop(key, None)
    sizes = database.settings_dict.get("OPTIONS", {}).get("pool")
    sizes = sizes if isinstance(sizes, dict) else {}
    opened = _CONNECTIONS.setdefault(loop, weakref.WeakSet())

    async def remember(conn) -> None:
        opened.add(conn)

    async def returned(conn) -> None:
        _RETURNED_AT[conn] = time.monotonic()

    async def check(conn) -> None:
        if time.monotonic() - _RETURNED_AT.get(conn, 0.0) > CHECK_AFTER_IDLE_S:
            await AsyncConnectionPool.check_connection(conn)

    pool = AsyncConnectionPool(
        kwargs={**params, "autocommit": True},
        # Django's pool sizes (DB_POOL_MIN_SIZE / DB_POOL_MAX_SIZE / DB_POOL_TIMEOUT_S).
        min_size=int(sizes.get("min_size", 2)),
        max_size=int(sizes.get("max_size", 20)),
        timeout=float(sizes.get("timeout", 10.0)),
        configure=remember,
        reset=returned,
        # A connection idle for a while is checked (an empty query) when it is handed
        # out: after PostgreSQL restarts, the pool's connections are all dead, and a turn on
        # one failed and dropped the socket (the soak drill after the kill -9 drill: 5 of 5
        # streaming sockets closed 1006). A broken one is discarded and another taken. One
        # back from a turn within CHECK_AFTER_IDLE_S is not: it just worked, and the check
        # is a round trip on the turn's path that waits behind every streaming reply on a
        # busy loop (a server that restarts takes longer than that to come back anyway).
        check=check,
        name="studyapp-chat",
        open=False,
    )
    await pool.open(wait=True)
    # Closed with its loop: asyncio.run (uvicorn's, a test server's) closes every live
    # async generator before it closes the loop, so this one's `finally` runs then.
    _KEEPERS[loop] = keeper = _close_with_loop(loop)
    await anext(keeper)
    return pool


async def _close_with_loop(loop: asyncio.AbstractEventLoop) -> AsyncIterator[None]:
    try:
        yield
    finally:
        _discard(loop)


# --- the turn ------------------------------------------------------------------------------


@asynccontextmanager
async def _turn_transaction(pool: AsyncConnectionPool):
    """A cursor in one transaction. Not in pipeline mode: pipelining saved three
    round trips but cost more CPU on the event loop than it saved in waiting (measured with
    the turn alone: 1.4 ms of CPU a turn in pipeline mode, 0.7-1.0 ms without; and the
    turn's wall time was shorter without it too, on a busy two-CPU machine)."""
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        yield cur


async def _lock_with_history(cur, conversation_id: int, now: datetime):
    """As services._lock_with_history: the locked conversation's row and its history."""
    from studyapp.chat.services import STALE_ERROR

    # The history is read once the lock is held.
    await cur.execute(LOCK_SQL, (conversation_id,))
    row = await cur.fetchone()
    if row is None:
        raise Conversation.DoesNotExist(f"conversation {conversation_id}")
    await cur.execute(HISTORY_SQL, (conversation_id,))
    history = [HistoryItem(*r) for r in await cur.fetchall()]
    cutoff = stale_before(now)
    stale = [m.id for m in history if m.is_stale(cutoff)]
    if stale:
        await cur.execute(STALE_SQL, (Message.Status.INTERRUPTED, STALE_ERROR, now, stale))
        logger.warning("chat: %s stale reply(s) in conversation %s", len(stale), conversation_id)
        history = [
            replace(m, status=Message.Status.INTERRUPTED) if m.id in stale else m for m in history
        ]
    return _Locked(conversation_id, row), history


class _Locked:
    """The conversation row read under the lock (its frozen snapshot, task and endpoint)."""

    def __init__(self, conversation_id: int, row: tuple) -> None:
        n = len(CONVERSATION_COLUMNS)
        fields = dict(zip(CONVERSATION_COLUMNS, row[:n], strict=True))
        self.id = conversation_id
        self.min_turns = fields["min_turns"]
        self.max_turns = fields["max_turns"]
        self.system_prompt = fields["system_prompt"]
        self.sampling_params = fields["sampling_params"] or {}
        self.base_url = fields["base_url"]
        self.model = fields["model"]
        self.timeout_s = fields["timeout_s"]
        self.blinding_terms = fields["blinding_terms"] or []
        self.task_status, self.participant_id = row[n], row[n + 1]
        self._endpoint_row = row[n + 2 :]

    def endpoint(self) -> ModelEndpoint:
        # The columns EndpointConfig reads, on an instance of the row (not saved).
        return ModelEndpoint(**dict(zip(ENDPOINT_COLUMNS, self._endpoint_row, strict=True)))


def _reply_row(locked: _Locked, sequence: int, now) -> dict[str, Any]:
    """The reply's streaming row (its reply_to_id is set by the statement)."""
    return _message(
        conversation_id=locked.id,
        sequence=sequence,
        role=Message.Role.ASSISTANT,
        text="",
        status=Message.Status.STREAMING,
        created_at=now,
        heartbeat_at=now,
        completed_at=None,
    )


def _plan(locked: _Locked, history: list[HistoryItem], message_id: int, sequence: int):
    """What the model is sent for the reply row `message_id` (as services' ReplyPlan)."""
    from studyapp.chat.services import ReplyPlan

    endpoint = EndpointConfig.from_endpoint(
        locked.endpoint(),
        base_url=locked.base_url,
        model=locked.model,
        timeout_s=locked.timeout_s,
    )
    return ReplyPlan(
        message_id=message_id,
        conversation_id=locked.id,
        sequence=sequence,
        endpoint=endpoint,
        messages=model_messages(system_prompt=locked.system_prompt, history=history),
        params=dict(locked.sampling_params),
        blinding_terms=tuple(locked.blinding_terms),
    )


async def _begin(cur, locked: _Locked, history: list[HistoryItem], user_message_id: int, now):
    """As services._begin_locked: the streaming reply row to a stored participant message,
    and what the model is sent."""
    from studyapp.chat.services import check_begin

    check_begin(history, task_status=locked.task_status, user_message_id=user_message_id, now=now)
    sequence = (history[-1].sequence if history else 0) + 1
    row = _reply_row(locked, sequence, now) | {"reply_to_id": user_message_id}
    await cur.execute(INSERT_MESSAGE_SQL, row)
    (message_id,) = await cur.fetchone()
    return _plan(locked, history, message_id, sequence)


# The id a new participant message stands under in the rules' history until it is stored
# (the rules compare ids; a database id is never negative).
_UNSTORED = -1


async def turn_store_and_begin(
    *, conversation_id: int, text: str, client_message_id: str | None, now: datetime | None = None
):
    """services.message_store_and_begin, on the event loop: (StoredMessage, ReplyPlan | None).

    Three round trips in the transaction: the lock, the history, and one statement that
    stores the message, marks the participant seen and creates the reply's row (TURN_SQL).
    """
    from studyapp.chat.services import StoredMessage, check_begin, check_send, clean_message_text

    now = now or timezone.now()
    cleaned = clean_message_text(text)  # refuse before taking the lock
    pool = await _pool()
    async with _turn_transaction(pool) as cur:
        locked, history = await _lock_with_history(cur, conversation_id, now)
        duplicate = check_send(
            history,
            task_status=locked.task_status,
            min_turns=locked.min_turns,
            max_turns=locked.max_turns,
            client_message_id=client_message_id,
            now=now,
        )
        if duplicate is not None:
            if not duplicate.needs_reply:
                return duplicate, None
            return duplicate, await _begin(cur, locked, history, duplicate.message_id, now)
        sequence = (history[-1].sequence if history else 0) + 1
        item = HistoryItem(
            id=_UNSTORED,
            sequence=sequence,
            role=Message.Role.USER,
            text=cleaned,
            status=Message.Status.COMPLETE,
            client_message_id=client_message_id or None,
            reply_to_id=None,
            created_at=now,
        )
        # The reply may begin: the same rule as a retry's, checked before anything is
        # written, on the history as it will be.
        check_begin(
            [*history, item], task_status=locked.task_status, user_message_id=_UNSTORED, now=now
        )
        user_row = _message(
            conversation_id=locked.id,
            sequence=sequence,
            role=Message.Role.USER,
            text=cleaned,
            status=Message.Status.COMPLETE,
            client_message_id=client_message_id or None,
            created_at=now,
            completed_at=now,
        )
        params = (
            {f"user_{k}": v for k, v in user_row.items()}
            | {f"reply_{k}": v for k, v in _reply_row(locked, sequence + 1, now).items()}
            | {"now": now, "participant_id": locked.participant_id}
        )
        await cur.execute(TURN_SQL, params)
        message_id, reply_id = await cur.fetchone()
        logger.info(
            "chat: user message %s (seq %s, %s chars) in conversation %s",
            message_id,
            sequence,
            len(cleaned),
            conversation_id,
        )
        stored = StoredMessage(
            message_id=message_id,
            sequence=sequence,
            client_message_id=client_message_id or None,
            duplicate=False,
            needs_reply=True,
        )
        item = replace(item, id=message_id)
        return stored, _plan(locked, [*history, item], reply_id, sequence + 1)


async def turn_retry_and_begin(*, conversation_id: int, now: datetime | None = None):
    """services.message_retry_and_begin, on the event loop: (message to answer, ReplyPlan)."""
    from studyapp.chat.services import check_retry

    now = now or timezone.now()
    pool = await _pool()
    async with _turn_transaction(pool) as cur:
        locked, history = await _lock_with_history(cur, conversation_id, now)
        target = check_retry(history, task_status=locked.task_status, now=now)
        return target, await _begin(cur, locked, history, target, now)


async def reply_finish(*, plan, outcome) -> TurnState:
    """services.reply_finish, on the event loop: the reply's final row, the new turn counts."""
    usage = outcome.usage
    values = (
        outcome.text,
        outcome.status,
        outcome.time_to_first_token_ms,
        outcome.duration_ms,
        usage.prompt_tokens if usage else None,
        usage.completion_tokens if usage else None,
        outcome.finish_reason[:30],
        outcome.error[:200],
        timezone.now(),
        Jsonb([o.as_dict() for o in occurrences(outcome.text, plan.blinding_terms)]),
        plan.message_id,
    )
    pool = await _pool()
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.execute(FINISH_SQL, values)
        await cur.execute(LIMITS_SQL, (plan.conversation_id,))
        min_turns, max_turns = await cur.fetchone()
        await cur.execute(HISTORY_SQL, (plan.conversation_id,))
        history = [HistoryItem(*r) for r in await cur.fetchall()]
    logger.info(
        "chat: reply %s %s (%s chars, ttft %s ms, %.0f ms)",
        plan.message_id,
        outcome.status,
        len(outcome.text),
        None if outcome.time_to_first_token_ms is None else round(outcome.time_to_first_token_ms),
        outcome.duration_ms,
    )
    return turn_state_from(history=history, min_turns=min_turns, max_turns=max_turns)


async def reply_save_partial(*, message_id: int, text: str) -> bool:
    """services.reply_save_partial, on the event loop."""
    pool = await _pool()
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.execute(
            SAVE_PARTIAL_SQL, (text, timezone.now(), message_id, Message.Status.STREAMING)
        )
        return cur.rowcount > 0
