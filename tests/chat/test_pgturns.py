"""The chat turn on async psycopg (PostgreSQL): the same rows, plans and refusals as the ORM.

Each scenario runs through the ORM services and through chat.pgturns on two conversations
set up alike, and compares what each stored and returned; the SQL's names are checked
against the models on every database.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.utils import timezone

from studyapp.chat import pgturns
from studyapp.chat.llm import Usage
from studyapp.chat.models import Conversation, Message
from studyapp.chat.selectors import conversation_turn_state
from studyapp.chat.services import (
    ChatRefused,
    ReplyOutcome,
    conversation_get_or_create,
    message_retry_and_begin,
    message_store_and_begin,
    reply_finish,
    turn_store_and_begin,
)
from studyapp.participation.models import Participant, Task
from studyapp.studies.models import ModelEndpoint
from tests.chat.conftest import make_cast
from tests.conftest import require

pytestmark = pytest.mark.django_db(transaction=True)

# A message as both paths must store it (the reply it answers by its sequence: the two
# conversations' ids differ).
ROW = (
    "sequence", "role", "text", "status", "client_message_id", "reply_to__sequence",
    "finish_reason", "error", "blinding_hits", "prompt_tokens", "completion_tokens",
)  # fmt: skip


def test_the_sql_names_the_models_tables_and_columns():
    def columns(model) -> set[str]:
        return {f.column for f in model._meta.concrete_fields}

    tables = {
        model._meta.db_table: columns(model)
        for model in (Conversation, Message, Task, Participant, ModelEndpoint)
    }
    statements = [
        pgturns.LOCK_SQL,
        pgturns.HISTORY_SQL,
        pgturns.LIMITS_SQL,
        pgturns.STALE_SQL,
        pgturns.INSERT_MESSAGE_SQL,
        pgturns.TURN_SQL,
        pgturns.FINISH_SQL,
        pgturns.SAVE_PARTIAL_SQL,
    ]
    named = set()
    for sql in statements:
        named |= set(re.findall(r"(?:FROM|JOIN|UPDATE|INTO)\s+(?!OF\b)(\w+)", sql))
    assert named - {"user_message"} <= set(tables)  # TURN_SQL's WITH names user_message
    # Every column the statements name exists on its table.
    for alias, table in (("c", "chat_conversation"), ("t", "participation_task")):
        for column in re.findall(rf"\b{alias}\.(\w+)", pgturns.LOCK_SQL):
            assert column in tables[table], (table, column)
    for column in re.findall(r"\be\.(\w+)", pgturns.LOCK_SQL):
        assert column in tables["studies_modelendpoint"], column
    assert set(pgturns.ENDPOINT_COLUMNS) <= tables["studies_modelendpoint"]
    assert set(pgturns.CONVERSATION_COLUMNS) <= tables["chat_conversation"]
    # The insert gives every column of a message but its key: a field added to Message
    # must be added there too.
    assert set(pgturns.MESSAGE_COLUMNS) == tables["chat_message"] - {"id"}
    for sql in (pgturns.INSERT_MESSAGE_SQL, pgturns.TURN_SQL):
        for inserted in re.findall(r"INSERT INTO chat_message \(([^)]*)\)", sql):
            assert [c.strip() for c in inserted.split(",")] == list(pgturns.MESSAGE_COLUMNS)
    # A row's VALUES has one value per column.
    values = pgturns._message_values("x_", "NULL")
    assert len(values.removeprefix("(").removesuffix(")").split(", ")) == len(
        pgturns.MESSAGE_COLUMNS
    )
    for sql in (pgturns.FINISH_SQL, pgturns.SAVE_PARTIAL_SQL, pgturns.STALE_SQL):
        for column in re.findall(r"(\w+) = %s", sql):
            assert column in tables["chat_message"], column


def test_the_turns_run_on_the_event_loop_exactly_when_the_database_is_postgresql():
    assert pgturns.enabled() is (connection.vendor == "postgresql")


def needs_postgresql() -> None:
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")


@database_sync_to_async
def two_conversations(**arm_kwargs) -> tuple[int, int]:
    """One conversation for the ORM path, one for pgturns, set up alike."""
    a = make_cast("http://127.0.0.1:9/v1", slug="orm-side", **arm_kwargs)
    b = make_cast("http://127.0.0.1:9/v1", slug="pg-side", **arm_kwargs)
    return (
        conversation_get_or_create(task=a.task).pk,
        conversation_get_or_create(task=b.task).pk,
    )


@database_sync_to_async
def rows(conversation_id: int) -> list[tuple]:
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("sequence")
        .values_list(*ROW)
    )


def same_plan(orm, pg) -> None:
    assert (orm.sequence, orm.messages, orm.params, orm.blinding_terms) == (
        pg.sequence,
        pg.messages,
        pg.params,
        pg.blinding_terms,
    )
    assert (orm.endpoint.base_url, orm.endpoint.model, orm.endpoint.api_key) == (
        pg.endpoint.base_url,
        pg.endpoint.model,
        pg.endpoint.api_key,
    )
    assert (orm.endpoint.timeout_s, orm.endpoint.max_concurrent_streams) == (
        pg.endpoint.timeout_s,
        pg.endpoint.max_concurrent_streams,
    )


async def both_send(orm_id: int, pg_id: int, text: str, client_id: str):
    outcomes = []
    for run in (
        database_sync_to_async(message_store_and_begin)(
            conversation_id=orm_id, text=text, client_message_id=client_id
        ),
        pgturns.turn_store_and_begin(
            conversation_id=pg_id, text=text, client_message_id=client_id
        ),
    ):
        try:
            outcomes.append(await run)
        except ChatRefused as refused:
            outcomes.append(refused.code)
    return outcomes


async def finish_both(orm_plan, pg_plan, outcome: ReplyOutcome):
    orm_turns = await database_sync_to_async(reply_finish)(plan=orm_plan, outcome=outcome)
    pg_turns = await pgturns.reply_finish(plan=pg_plan, outcome=outcome)
    assert orm_turns == pg_turns
    return pg_turns


def complete(text: str) -> ReplyOutcome:
    return ReplyOutcome(text, Message.Status.COMPLETE, 12.0, 40.0, Usage(5, 3), "stop", "")


async def test_a_turn_stores_and_refuses_as_the_orm_does():
    needs_postgresql()
    orm_id, pg_id = await two_conversations(blinding_terms=["GPT"])
    (orm_stored, orm_plan), (pg_stored, pg_plan) = await both_send(orm_id, pg_id, " Hi ", "a1")
    assert (pg_stored.sequence, pg_stored.duplicate, pg_stored.needs_reply) == (1, False, True)
    assert (orm_stored.sequence, orm_stored.duplicate) == (pg_stored.sequence, False)
    same_plan(orm_plan, pg_plan)
    assert pg_plan.messages[-1] == {"role": "user", "content": "Hi"}
    # The same client id while its reply streams: nothing new, no second reply.
    (orm_again, orm_none), (pg_again, pg_none) = await both_send(orm_id, pg_id, "Hi", "a1")
    assert (orm_again.sequence, orm_again.duplicate) == (pg_again.sequence, pg_again.duplicate)
    assert pg_again.duplicate and not pg_again.needs_reply and orm_none is pg_none is None
    # Another message while the reply streams: refused, nothing stored.
    assert await both_send(orm_id, pg_id, "more", "a2") == ["in_flight", "in_flight"]
    turns = await finish_both(orm_plan, pg_plan, complete("I am GPT, hello"))
    assert (turns.turns_used, turns.completed_turns) == (1, 1)
    # Empty and too long are refused before any lock.
    assert await both_send(orm_id, pg_id, "   ", "a3") == ["empty", "empty"]
    assert await both_send(orm_id, pg_id, "x" * 5000, "a3") == ["too_long", "too_long"]
    (_, orm_plan2), (_, pg_plan2) = await both_send(orm_id, pg_id, "and then?", "a3")
    same_plan(orm_plan2, pg_plan2)
    assert [m["role"] for m in pg_plan2.messages] == ["system", "user", "assistant", "user"]
    assert await rows(orm_id) == await rows(pg_id)
    orm_reply, pg_reply = [
        await database_sync_to_async(Message.objects.get)(pk=p.message_id)
        for p in (orm_plan, pg_plan)
    ]
    assert (
        pg_reply.blinding_hits
        == orm_reply.blinding_hits
        == [{"term": "GPT", "start": 5, "end": 8}]
    )
    assert pg_reply.completed_at is not None and pg_reply.duration_ms == 40.0


async def test_a_resend_whose_reply_never_began_begins_it_once():
    needs_postgresql()
    orm_id, pg_id = await two_conversations()
    (_, orm_plan), (_, pg_plan) = await both_send(orm_id, pg_id, "q", "r1")
    # The reply row vanished with its process before the ack (no reply ever began).
    await database_sync_to_async(
        Message.objects.filter(pk__in=[orm_plan.message_id, pg_plan.message_id]).delete
    )()
    (orm_stored, orm_plan), (pg_stored, pg_plan) = await both_send(orm_id, pg_id, "q", "r1")
    assert pg_stored.duplicate and pg_stored.needs_reply and pg_plan is not None
    assert (orm_stored.sequence, orm_stored.duplicate, orm_stored.needs_reply) == (1, True, True)
    same_plan(orm_plan, pg_plan)
    assert await rows(orm_id) == await rows(pg_id)


async def test_max_turns_finished_tasks_and_retries_match_the_orm():
    needs_postgresql()
    orm_id, pg_id = await two_conversations(max_turns=1)
    (orm_stored, orm_plan), (pg_stored, pg_plan) = await both_send(orm_id, pg_id, "one", "t1")
    failed = ReplyOutcome("Par", Message.Status.ERROR, None, 5.0, None, "", "timeout: slow")
    await finish_both(orm_plan, pg_plan, failed)
    # "Try again" begins a new reply to the same message.
    orm_target, orm_retry = await database_sync_to_async(message_retry_and_begin)(
        conversation_id=orm_id
    )
    pg_target, pg_retry = await pgturns.turn_retry_and_begin(conversation_id=pg_id)
    assert (orm_retry.sequence, pg_retry.sequence) == (3, 3)
    assert (orm_target, pg_target) == (orm_stored.message_id, pg_stored.message_id)
    same_plan(orm_retry, pg_retry)
    with pytest.raises(ChatRefused) as caught:
        await pgturns.turn_retry_and_begin(conversation_id=pg_id)
    assert caught.value.code == "in_flight"
    await finish_both(orm_retry, pg_retry, complete("done"))
    with pytest.raises(ChatRefused) as caught:
        await pgturns.turn_retry_and_begin(conversation_id=pg_id)
    assert caught.value.code == "nothing_to_retry"
    assert await both_send(orm_id, pg_id, "two", "t2") == ["max_turns", "max_turns"]
    assert await rows(orm_id) == await rows(pg_id)
    await database_sync_to_async(Task.objects.filter(conversation__id__in=[orm_id, pg_id]).update)(
        status=Task.Status.ANSWERING
    )
    assert await both_send(orm_id, pg_id, "again", "t3") == ["finished", "finished"]


async def test_a_dead_writers_reply_is_marked_interrupted_and_the_turn_goes_on():
    needs_postgresql()
    orm_id, pg_id = await two_conversations()
    (_, orm_plan), (_, pg_plan) = await both_send(orm_id, pg_id, "q", "d1")
    long_ago = timezone.now() - timedelta(hours=1)
    await database_sync_to_async(
        Message.objects.filter(pk__in=[orm_plan.message_id, pg_plan.message_id]).update
    )(heartbeat_at=long_ago, created_at=long_ago, text="what they read")
    (_, orm_plan2), (_, pg_plan2) = await both_send(orm_id, pg_id, "still there?", "d2")
    same_plan(orm_plan2, pg_plan2)
    assert await rows(orm_id) == await rows(pg_id)
    dead = await database_sync_to_async(Message.objects.get)(pk=pg_plan.message_id)
    assert (dead.status, dead.text, dead.error) == (
        "interrupted",
        "what they read",
        "stale: no end recorded",
    )


async def test_the_participant_is_marked_seen_in_the_same_transaction():
    needs_postgresql()
    _, pg_id = await two_conversations()
    await pgturns.turn_store_and_begin(conversation_id=pg_id, text="hi", client_message_id="s1")
    seen = await database_sync_to_async(
        lambda: Participant.objects.get(tasks__conversation__id=pg_id).last_seen_at
    )()
    assert seen is not None and timezone.now() - seen < timedelta(seconds=30)


async def test_simultaneous_sends_store_each_client_id_once_and_begin_one_reply():
    needs_postgresql()
    _, pg_id = await two_conversations()
    # Ten sends at once on one conversation (two tabs, a resending browser): the row lock
    # serialises them; exactly one reply begins, a resent client id is never stored twice.
    sends = [
        pgturns.turn_store_and_begin(
            conversation_id=pg_id, text="hi", client_message_id=f"x{i % 3}"
        )
        for i in range(10)
    ]
    results = await asyncio.gather(*sends, return_exceptions=True)
    began = [r for r in results if isinstance(r, tuple) and r[1] is not None]
    refused = [r for r in results if isinstance(r, ChatRefused)]
    assert len(began) == 1
    assert all(r.code == "in_flight" for r in refused)
    stored = await rows(pg_id)
    users = [r for r in stored if r[1] == "user"]
    assert len(users) == 1 and [r[1] for r in stored] == ["user", "assistant"]
    duplicates = [r for r in results if isinstance(r, tuple) and r[1] is None]
    assert all(d[0].duplicate and d[0].client_message_id == users[0][4] for d in duplicates)
    assert len(began) + len(refused) + len(duplicates) == 10


async def test_the_text_so_far_is_saved_only_while_the_reply_streams():
    needs_postgresql()
    _, pg_id = await two_conversations()
    _, plan = await pgturns.turn_store_and_begin(
        conversation_id=pg_id, text="hi", client_message_id="p1"
    )
    assert await pgturns.reply_save_partial(message_id=plan.message_id, text="Hel") is True
    reply = await database_sync_to_async(Message.objects.get)(pk=plan.message_id)
    assert (reply.text, reply.status) == ("Hel", "streaming")
    turns = await pgturns.reply_finish(plan=plan, outcome=complete("Hello"))
    assert turns == await database_sync_to_async(conversation_turn_state)(conversation_id=pg_id)
    assert await pgturns.reply_save_partial(message_id=plan.message_id, text="late") is False
    reply = await database_sync_to_async(Message.objects.get)(pk=plan.message_id)
    assert (reply.text, reply.status, reply.prompt_tokens) == ("Hello", "complete", 5)


async def test_a_turn_cancelled_mid_way_commits_whole_and_its_reply_is_marked_interrupted():
    needs_postgresql()
    _, pg_id = await two_conversations()
    # The socket's task cancelled while its transaction runs (a server shutting down): the
    # transaction is never cut mid-way, and the reply it began, which nobody will
    # generate, does not leave the chat looking busy.
    task = asyncio.create_task(
        turn_store_and_begin(conversation_id=pg_id, text="hi", client_message_id="c1")
    )
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        while len(stored := await rows(pg_id)) < 2 or stored[1][3] == "streaming":  # noqa: ASYNC110 (written by a task of its own)
            await asyncio.sleep(0.02)
    assert [(r[1], r[2], r[3]) for r in stored] == [
        ("user", "hi", "complete"),
        ("assistant", "", "interrupted"),
    ]


async def test_an_idle_connection_the_server_dropped_is_replaced_and_a_fresh_one_not_checked(
    monkeypatch,
):
    # After PostgreSQL restarts every pooled connection is dead: one idle for a while is
    # checked when handed out and replaced, so the turn works. One just back from a turn
    # skips the check (a round trip on every turn's path).
    needs_postgresql()
    _orm_id, pg_id = await two_conversations()
    pool = await pgturns._pool()
    async with pool.connection() as a, pool.connection() as b:
        pids = {a.info.backend_pid, b.info.backend_pid}
    checks = []
    real_check = pgturns.AsyncConnectionPool.check_connection

    async def counted(conn):
        checks.append(conn.info.backend_pid)
        await real_check(conn)

    monkeypatch.setattr(pgturns.AsyncConnectionPool, "check_connection", counted)
    async with pool.connection() as conn:
        assert conn.info.backend_pid in pids
    assert checks == []  # just returned: not checked

    @database_sync_to_async
    def server_drops_them():
        with connection.cursor() as cursor:
            for pid in pids:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    await server_drops_them()
    monkeypatch.setattr(pgturns, "CHECK_AFTER_IDLE_S", 0.0)  # as if idle long enough
    stored, plan = await pgturns.turn_store_and_begin(
        conversation_id=pg_id, text="hello", client_message_id="after-restart"
    )
    assert stored.duplicate is False and plan is not None
    assert set(checks) & pids  # a dead one was checked, and discarded
