"""The reply service on its own: however a reply ends, its row says so."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import pytest
from channels.db import database_sync_to_async

from studyapp.chat.llm import OpenAICompatibleClient, StreamEvent
from studyapp.chat.models import Message
from studyapp.chat.services import (
    ChatRefused,
    conversation_get_or_create,
    message_store_user,
    reply_stream,
)

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def a_stored_message(cast, text: str = "hello") -> tuple[int, int]:
    conversation = conversation_get_or_create(task=cast.task)
    stored = message_store_user(conversation_id=conversation.pk, text=text, client_message_id="m")
    return conversation.pk, stored.message_id


@database_sync_to_async
def last_reply(conversation_id: int) -> Message:
    return Message.objects.filter(conversation_id=conversation_id, role="assistant").last()


async def test_a_complete_reply_yields_start_deltas_and_end_with_turns(cast, scripted):
    conversation_id, user_id = await a_stored_message(cast, "#long:3 hi")
    async with aclosing(
        reply_stream(conversation_id=conversation_id, user_message_id=user_id)
    ) as events:
        kinds = [(e.kind, e.text) async for e in events]
    assert kinds[0] == ("start", "")
    assert "".join(text for kind, text in kinds if kind == "delta") == "[Scripted demo model"
    reply = await last_reply(conversation_id)
    assert (reply.status, reply.finish_reason, reply.completion_tokens) == ("complete", "stop", 3)


async def test_a_reply_abandoned_at_its_start_is_stored_as_interrupted(cast, scripted):
    conversation_id, user_id = await a_stored_message(cast)
    async with aclosing(
        reply_stream(conversation_id=conversation_id, user_message_id=user_id)
    ) as events:
        first = await anext(events)
    assert first.kind == "start"
    reply = await last_reply(conversation_id)
    assert (reply.status, reply.text, reply.error) == ("interrupted", "", "cancelled")
    assert reply.completed_at is not None


class BrokenClient:
    def __init__(self, config) -> None:
        self.config = config

    async def stream_chat(self, messages, params=None):
        raise RuntimeError("boom")
        yield  # unreachable; makes this an async generator like the real one


async def test_an_unexpected_failure_is_stored_as_an_error_and_raised(cast):
    conversation_id, user_id = await a_stored_message(cast)

    async def run() -> None:
        async with aclosing(
            reply_stream(
                conversation_id=conversation_id,
                user_message_id=user_id,
                client_factory=BrokenClient,
            )
        ) as events:
            async for _ in events:
                pass

    with pytest.raises(RuntimeError):
        await run()
    reply = await last_reply(conversation_id)
    assert (reply.status, reply.error) == ("error", "internal: RuntimeError")


async def test_a_second_reply_to_the_same_message_is_refused_while_one_streams(cast, scripted):
    conversation_id, user_id = await a_stored_message(cast, "#slow:0.05")
    first = reply_stream(conversation_id=conversation_id, user_message_id=user_id)
    async with aclosing(first) as events:
        assert (await anext(events)).kind == "start"
        with pytest.raises(ChatRefused) as caught:
            await anext(reply_stream(conversation_id=conversation_id, user_message_id=user_id))
        assert caught.value.code == "in_flight"
    assert (await last_reply(conversation_id)).status == "interrupted"


class EngineThatDropsTheRequest:
    """An engine interrupted by another request (llama.cpp's server does this): some text
    or none, then the stream simply ends, with no finish reason."""

    text = "Partial"

    def __init__(self, config) -> None:
        self.config = config

    async def stream_chat(self, messages, params=None):
        if self.text:
            yield StreamEvent(delta=self.text)


class EngineThatSaysNothing(EngineThatDropsTheRequest):
    text = ""

    async def stream_chat(self, messages, params=None):
        yield StreamEvent(finish_reason="stop")


async def run_with(conversation_id: int, user_id: int, factory) -> list:
    async with aclosing(
        reply_stream(
            conversation_id=conversation_id, user_message_id=user_id, client_factory=factory
        )
    ) as events:
        return [e async for e in events]


@pytest.mark.parametrize(
    ("factory", "code", "text"),
    [(EngineThatDropsTheRequest, "incomplete", "Partial"), (EngineThatSaysNothing, "empty", "")],
)
async def test_a_stream_without_a_finish_reason_or_text_is_not_a_complete_reply(
    cast, factory, code, text
):
    conversation_id, user_id = await a_stored_message(cast)
    events = await run_with(conversation_id, user_id, factory)
    assert (events[-1].kind, events[-1].status, events[-1].error_code) == ("end", "error", code)
    reply = await last_reply(conversation_id)
    assert (reply.status, reply.text) == ("error", text)
    assert reply.error.startswith(code)


async def test_the_text_so_far_is_saved_while_a_reply_streams(cast, scripted, settings):
    # A web process killed mid-reply never reaches the reply's `finally`: what the
    # participant read must already be in the database.
    settings.CHAT_REPLY_SAVE_S = 0.1
    conversation_id, user_id = await a_stored_message(cast, "#slow:0.05 #long:200 hello")
    async with aclosing(
        reply_stream(conversation_id=conversation_id, user_message_id=user_id)
    ) as events:
        seen = ""
        async for event in events:
            seen += event.text
            if len(seen) > 120:
                break
        await asyncio.sleep(0.35)
        reply = await last_reply(conversation_id)
        assert reply.status == "streaming"
        assert reply.heartbeat_at is not None
        # Saved at most one save interval (two tokens) behind what was shown.
        assert len(reply.text) >= 100 and seen.startswith(reply.text)
    reply = await last_reply(conversation_id)
    assert reply.status == "interrupted" and seen.startswith(reply.text)


async def test_a_reply_has_one_deadline_however_slowly_the_model_drips(cast, scripted):
    # Each token arrives within the per-read timeout; the whole reply may not take longer
    # than the arm's reply_timeout_s (before: a slow drip ran for 65 s under a 30 s timeout).
    await database_sync_to_async(type(cast.arm).objects.filter(pk=cast.arm.pk).update)(
        reply_timeout_s=1.5
    )
    conversation_id, user_id = await a_stored_message(cast, "#slow:0.3 #long:40 hello")
    started = time.monotonic()
    events = await run_with(conversation_id, user_id, OpenAICompatibleClient)
    elapsed = time.monotonic() - started
    assert (events[-1].status, events[-1].error_code) == ("error", "timeout")
    assert 1.4 < elapsed < 3.0
    reply = await last_reply(conversation_id)
    assert reply.status == "error" and reply.text  # the tokens that did arrive are kept
