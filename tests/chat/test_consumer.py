"""The chat socket end to end: real ASGI stack, real database, real scripted model over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.utils.html import escape

from studyapp.chat.models import Message
from studyapp.core import metrics
from studyapp.devtools.scripted_server import demo_reply
from studyapp.participation.models import Participant, Task
from tests.chat.conftest import (
    closed_with,
    communicator,
    frames_until,
    make_cast,
    open_chat,
    send,
    session_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def messages_of(cast) -> list[Message]:
    return list(Message.objects.filter(conversation__task=cast.task).order_by("sequence"))


async def wait_for(predicate, limit_s: float = 3.0) -> None:
    """Poll state that the scripted server's thread updates."""
    async with asyncio.timeout(limit_s):
        while not predicate():  # noqa: ASYNC110 (another thread sets it: no Event to await)
            await asyncio.sleep(0.02)


async def test_it_streams_a_reply_and_stores_it_with_timings_and_usage(cast, scripted):
    comm, history = await open_chat(cast)
    assert history["messages"] == []
    assert history["turns_used"] == 0 and history["max_turns"] == 10
    assert history["can_finish"] is False and history["in_flight"] is False

    await send(comm, "I have had a headache <since> Tuesday", client_id="abc-1")
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)

    assert frames[0] == {"type": "ack", "client_id": "abc-1", "seq": 1, "duplicate": False}
    assert frames[1] == {"type": "start", "seq": 2}
    deltas = [f for f in frames if f["type"] == "delta"]
    expected = demo_reply("I have had a headache <since> Tuesday", 1)
    assert "".join(f["html"] for f in deltas) == escape(expected)
    # The first token goes out on its own, at once; later ones are coalesced.
    assert deltas[0]["html"] == escape("[Scripted ")
    assert len(deltas) < len(expected.split())
    end = frames[-1]
    assert end["status"] == "complete"
    assert (end["turns_used"], end["max_turns"], end["can_finish"]) == (1, 10, True)
    assert "error_message" not in end

    user, reply = await messages_of(cast)
    assert (user.role, user.text, user.client_message_id) == (
        "user",
        "I have had a headache <since> Tuesday",
        "abc-1",
    )
    assert (reply.role, reply.status, reply.reply_to_id, reply.text) == (
        "assistant",
        "complete",
        user.pk,
        expected,
    )
    assert reply.finish_reason == "stop"
    assert reply.completion_tokens == len(expected.split())
    assert reply.prompt_tokens == 5 + 7  # words of the system prompt and the message
    assert 15 <= reply.time_to_first_token_ms < reply.duration_ms
    [request] = scripted.requests()
    assert request["messages"] == [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "I have had a headache <since> Tuesday"},
    ]
    assert request["completed"] and not request["aborted"]


async def test_it_escapes_model_output(cast, scripted):
    scripted.configure(mode="echo")
    comm, _ = await open_chat(cast)
    await send(comm, "<img src=x onerror=alert(1)> & done")
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)
    html = "".join(f["html"] for f in frames if f["type"] == "delta")
    assert html == "&lt;img src=x onerror=alert(1)&gt; &amp; done"


async def test_it_stores_a_model_error_and_a_retry_answers_the_same_message(cast, scripted):
    scripted.configure(fail_status=500)
    comm, _ = await open_chat(cast)
    await send(comm, "My knee hurts")
    frames = await frames_until(comm, "end")
    end = frames[-1]
    assert end["status"] == "error"
    assert end["error_message"] == "The assistant is not available right now. Please try again."
    assert end["can_retry"] is True and end["can_finish"] is False

    scripted.configure(fail_status=None)
    await comm.send_json_to({"type": "retry"})
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)
    assert frames[0] == {"type": "start", "seq": 3}
    assert frames[-1]["status"] == "complete" and frames[-1]["can_finish"] is True

    user, failed, retried = await messages_of(cast)
    assert failed.status == "error" and failed.error.startswith("server_error (HTTP 500)")
    assert failed.reply_to_id == retried.reply_to_id == user.pk
    assert retried.status == "complete"
    # The failed attempt is not part of what the model sees.
    assert scripted.requests()[-1]["messages"][1:] == [
        {"role": "user", "content": "My knee hurts"}
    ]


async def test_after_three_failures_in_a_row_the_frames_offer_the_technical_exit(cast, scripted):
    scripted.configure(fail_status=500)
    comm, history = await open_chat(cast)
    assert history["technical_exit"] is False
    await send(comm, "My knee hurts")
    ends = [(await frames_until(comm, "end"))[-1]]
    for _ in range(2):
        await comm.send_json_to({"type": "retry"})
        ends.append((await frames_until(comm, "end"))[-1])
    assert [end["status"] for end in ends] == ["error"] * 3
    assert [end["technical_exit"] for end in ends] == [False, False, True]
    assert all(end["can_retry"] for end in ends)
    await comm.disconnect(timeout=5)

    # A reload shows it too; a complete reply takes it away.
    comm, history = await open_chat(cast)
    assert history["technical_exit"] is True and history["can_retry"] is True
    scripted.configure(fail_status=None)
    await comm.send_json_to({"type": "retry"})
    end = (await frames_until(comm, "end"))[-1]
    assert end["status"] == "complete" and end["technical_exit"] is False
    await comm.send_json_to({"type": "history"})
    history = (await frames_until(comm, "history"))[-1]
    await comm.disconnect(timeout=5)
    assert history["technical_exit"] is False


async def test_it_reports_an_injected_rate_limit_in_plain_words(cast, scripted):
    comm, _ = await open_chat(cast)
    await send(comm, "hello #fail:429")
    end = (await frames_until(comm, "end"))[-1]
    await comm.disconnect(timeout=5)
    assert end["status"] == "error"
    assert "busy" in end["error_message"]
    reply = (await messages_of(cast))[-1]
    assert reply.error.startswith("rate_limited")


async def test_it_keeps_the_partial_text_when_the_model_drops_mid_stream(cast, scripted):
    comm, _ = await open_chat(cast)
    await send(comm, "tell me more #cut:3")
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)
    assert frames[-1]["status"] == "error"
    assert "".join(f["html"] for f in frames if f["type"] == "delta") == escape(
        "[Scripted demo model "
    )
    reply = (await messages_of(cast))[-1]
    assert (reply.status, reply.text) == ("error", "[Scripted demo model ")
    assert reply.error.startswith("connection")
    assert scripted.requests()[-1]["cut"] is True


async def wait_until_stored(cast, limit_s: float = 10.0) -> Message:
    """The reply once it is no longer streaming."""
    async with asyncio.timeout(limit_s):
        while True:
            reply = (await messages_of(cast))[-1]
            if reply.role == "assistant" and reply.status != "streaming":
                return reply
            await asyncio.sleep(0.05)


async def test_a_reply_goes_on_to_its_end_when_the_participant_leaves(cast, scripted):
    comm, _ = await open_chat(cast)
    await send(comm, "slowly please #slow:0.02")
    await frames_until(comm, "delta")
    await comm.disconnect(timeout=5)

    reply = await wait_until_stored(cast)
    # Nothing was lost to the dropped socket: the whole reply, stored complete.
    assert reply.status == "complete"
    assert reply.text == demo_reply("slowly please", 1)
    assert reply.duration_ms is not None and reply.completed_at is not None
    [request] = scripted.requests()
    assert request["completed"] is True and request["aborted"] is False


async def test_a_reconnect_mid_reply_follows_it_to_the_end_and_never_asks_again(cast, scripted):
    comm, _ = await open_chat(cast)
    await send(comm, "tell me slowly #slow:0.02", client_id="m-1")
    before = await frames_until(comm, "delta")
    await comm.disconnect(timeout=5)  # a reload, or the phone switching apps

    comm, history = await open_chat(cast)
    assert history["in_flight"] is True and history["can_retry"] is False
    streaming = history["messages"][-1]
    assert (streaming["role"], streaming["status"]) == ("assistant", "streaming")
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)

    start = frames[0]
    assert start["type"] == "start" and start["resumed"] is True
    assert start["seq"] == streaming["seq"] == before[1]["seq"]
    expected = demo_reply("tell me slowly", 1)
    # The text so far, then the rest: together exactly the reply, escaped.
    shown = start["html"] + "".join(f["html"] for f in frames if f["type"] == "delta")
    assert shown == escape(expected)
    assert start["html"]  # it had begun
    assert frames[-1]["status"] == "complete" and frames[-1]["turns_used"] == 1
    reply = (await messages_of(cast))[-1]
    assert (reply.status, reply.text) == ("complete", expected)
    # One turn, one sample: the reconnect asked the model nothing.
    assert len(scripted.requests()) == 1


async def test_a_reconnect_to_another_process_follows_the_stored_reply(cast, scripted, settings):
    """A reply generating in another server process: only its row is here to read."""
    from django.utils import timezone

    from studyapp.chat.services import conversation_get_or_create, message_store_user

    settings.CHAT_FOLLOW_POLL_S = 0.05

    @database_sync_to_async
    def another_process_streams(text: str, status: str = "streaming") -> None:
        conversation = conversation_get_or_create(task=cast.task)
        if not Message.objects.filter(conversation=conversation).exists():
            stored = message_store_user(
                conversation_id=conversation.pk, text="hello", client_message_id="h1"
            )
            Message.objects.create(
                conversation=conversation,
                sequence=2,
                role="assistant",
                text="",
                status="streaming",
                reply_to_id=stored.message_id,
                heartbeat_at=timezone.now(),
            )
        Message.objects.filter(conversation=conversation, role="assistant").update(
            text=text, status=status, heartbeat_at=timezone.now()
        )

    await another_process_streams("Call <your> GP")
    comm, history = await open_chat(cast)
    assert history["in_flight"] is True
    start = await comm.receive_json_from(timeout=5)
    assert start == {"type": "start", "seq": 2, "resumed": True, "html": escape("Call <your> GP")}
    await another_process_streams("Call <your> GP today")
    delta = await comm.receive_json_from(timeout=5)
    assert delta == {"type": "delta", "seq": 2, "html": escape(" today")}
    await another_process_streams("Call <your> GP today.", status="complete")
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)
    assert "".join(f["html"] for f in frames if f["type"] == "delta") == "."
    assert frames[-1]["status"] == "complete" and frames[-1]["turns_used"] == 1
    assert scripted.requests() == []


async def test_a_follower_of_a_dead_processes_reply_sees_it_interrupted(cast, settings):
    from datetime import timedelta

    from django.utils import timezone

    from studyapp.chat.services import conversation_get_or_create, message_store_user

    settings.CHAT_FOLLOW_POLL_S = 0.05

    @database_sync_to_async
    def streaming_reply(heartbeat_age_s: float) -> None:
        conversation = conversation_get_or_create(task=cast.task)
        stored = message_store_user(
            conversation_id=conversation.pk, text="hello", client_message_id="h1"
        )
        Message.objects.create(
            conversation=conversation,
            sequence=2,
            role="assistant",
            text="Partial",
            status="streaming",
            reply_to_id=stored.message_id,
            heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age_s),
        )

    # Its writer renewed it 2 s before the stale limit: followed, then found dead.
    await streaming_reply(settings.CHAT_STALE_REPLY_S - 2)
    comm, history = await open_chat(cast)
    assert history["in_flight"] is True
    frames = await frames_until(comm, "end", limit_s=8)
    await comm.disconnect(timeout=5)
    assert frames[0]["html"] == "Partial"
    assert frames[-1]["status"] == "interrupted" and frames[-1]["can_retry"] is True
    reply = (await messages_of(cast))[-1]
    assert (reply.status, reply.text) == ("interrupted", "Partial")


async def test_a_reconnect_shows_the_stored_history(cast, scripted):
    comm, _ = await open_chat(cast)
    await send(comm, "first <b>question</b>", client_id="m-1")
    await frames_until(comm, "end")
    await comm.disconnect(timeout=5)

    comm, history = await open_chat(cast)
    await comm.disconnect(timeout=5)
    user, reply = history["messages"]
    assert user == {
        "seq": 1,
        "role": "user",
        "html": "first &lt;b&gt;question&lt;/b&gt;",
        "status": "complete",
        "client_id": "m-1",
    }
    assert reply["seq"] == 2 and reply["role"] == "assistant" and reply["status"] == "complete"
    assert reply["html"] == escape(demo_reply("first <b>question</b>", 1))
    assert (history["turns_used"], history["can_finish"], history["can_retry"]) == (1, True, False)


async def test_it_refuses_an_oversized_or_empty_message_and_stores_nothing(
    cast, scripted, settings
):
    settings.CHAT_MAX_MESSAGE_CHARS = 50
    comm, _ = await open_chat(cast)
    await send(comm, "x" * 51, client_id="big")
    too_long = await comm.receive_json_from(timeout=5)
    await send(comm, "   \n ", client_id="blank")
    empty = await comm.receive_json_from(timeout=5)
    await comm.disconnect(timeout=5)
    assert too_long["type"] == "error" and too_long["code"] == "too_long"
    assert too_long["client_id"] == "big" and "50 characters" in too_long["message"]
    assert (empty["code"], empty["client_id"]) == ("empty", "blank")
    assert await messages_of(cast) == []
    assert scripted.requests() == []


async def test_a_second_message_while_a_reply_streams_is_refused(cast, scripted):
    comm, _ = await open_chat(cast)
    await send(comm, "first #slow:0.05 #long:12", client_id="one")
    await frames_until(comm, "delta")
    await send(comm, "second", client_id="two")
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)
    [refusal] = [f for f in frames if f["type"] == "error"]
    assert refusal["code"] == "in_flight" and refusal["client_id"] == "two"
    assert "wait" in refusal["message"]
    assert [m.text for m in await messages_of(cast) if m.role == "user"] == [
        "first #slow:0.05 #long:12"
    ]


async def test_a_resent_client_id_does_not_store_a_second_message(cast, scripted):
    comm, _ = await open_chat(cast)
    await send(comm, "only once", client_id="same-id")
    await frames_until(comm, "end")
    await send(comm, "only once", client_id="same-id")
    ack = await comm.receive_json_from(timeout=5)
    assert ack == {"type": "ack", "client_id": "same-id", "seq": 1, "duplicate": True}
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect(timeout=5)
    assert len(await messages_of(cast)) == 2
    assert len(scripted.requests()) == 1


async def test_a_resend_after_a_drop_before_the_reply_began_gets_its_reply(cast, scripted):
    from studyapp.chat.services import conversation_get_or_create, message_store_user

    @database_sync_to_async
    def store_without_reply():
        conversation = conversation_get_or_create(task=cast.task)
        message_store_user(
            conversation_id=conversation.pk, text="lost ack", client_message_id="z9"
        )

    await store_without_reply()
    comm, history = await open_chat(cast)
    assert history["messages"][0]["client_id"] == "z9"
    await send(comm, "lost ack", client_id="z9")
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)
    assert frames[0]["duplicate"] is True
    assert frames[-1]["status"] == "complete"
    assert len(await messages_of(cast)) == 2


async def test_it_stops_at_the_maximum_number_of_messages(transactional_db, scripted):
    cast = await database_sync_to_async(make_cast)(scripted.base_url, max_turns=2, min_turns=2)
    comm, history = await open_chat(cast)
    assert (history["max_turns"], history["min_turns"]) == (2, 2)
    await send(comm, "one", client_id="1")
    first_end = (await frames_until(comm, "end"))[-1]
    await send(comm, "two", client_id="2")
    second_end = (await frames_until(comm, "end"))[-1]
    await send(comm, "three", client_id="3")
    refusal = await comm.receive_json_from(timeout=5)
    await comm.disconnect(timeout=5)
    assert (first_end["turns_used"], first_end["can_finish"]) == (1, False)
    assert (second_end["turns_used"], second_end["can_finish"]) == (2, True)
    assert refusal["code"] == "max_turns" and "Finish" in refusal["message"]
    assert len(await messages_of(cast)) == 4


async def test_it_refuses_malformed_frames_without_closing(cast, scripted):
    comm, _ = await open_chat(cast)
    await comm.send_to(text_data="not json")
    first = await comm.receive_json_from(timeout=5)
    await comm.send_json_to({"type": "send", "client_id": "bad id!", "text": "x"})
    second = await comm.receive_json_from(timeout=5)
    await comm.send_json_to({"type": "history"})
    history = await comm.receive_json_from(timeout=5)
    await comm.disconnect(timeout=5)
    assert first["code"] == second["code"] == "bad_frame"
    assert history["type"] == "history"


@pytest.mark.parametrize(
    "case", ["other_token", "no_session", "control_arm", "no_task", "done", "not_begun"]
)
async def test_it_refuses_sockets_that_may_not_chat(transactional_db, scripted, case):
    @database_sync_to_async
    def arrange():
        mine = make_cast(scripted.base_url, slug="mine")
        if case == "other_token":
            other = make_cast(scripted.base_url, slug="other")
            return mine.path().replace(mine.token, other.token), mine.session_key, 4403
        if case == "no_session":
            return mine.path(), session_for(), 4403
        if case == "control_arm":
            control = make_cast(scripted.base_url, slug="ctl", control=True)
            return control.path(), control.session_key, 4403
        if case == "no_task":
            return mine.path(position=7), mine.session_key, 4404
        if case == "not_begun":
            # Instructions (and any attention check) not done yet: the page shows no chat.
            Participant.objects.filter(pk=mine.participant.pk).update(instructions_read_at=None)
            return mine.path(), mine.session_key, 4403
        Task.objects.filter(pk=mine.task.pk).update(status=Task.Status.ANSWERING)
        return mine.path(), mine.session_key, 4403

    path, session_key, code = await arrange()
    comm = communicator(path, session_key)
    connected, _ = await comm.connect(timeout=5)
    assert connected  # accepted only to say why, then closed
    frames, close_code = await closed_with(comm)
    assert close_code == code
    assert frames[0]["type"] == "error"
    assert "reload" in frames[0]["message"]
    from studyapp.chat.models import Conversation

    count = database_sync_to_async(Conversation.objects.filter(task__position=7).count)
    assert await count() == 0


async def test_it_refuses_a_socket_from_a_foreign_origin(cast):
    from studyapp.asgi import application
    from tests.chat.conftest import WebsocketCommunicator

    comm = WebsocketCommunicator(
        application,
        cast.path(),
        headers=[
            (b"origin", b"https://evil.example"),
            (b"cookie", f"sessionid={cast.session_key}".encode()),
        ],
    )
    connected, _ = await comm.connect(timeout=5)
    assert not connected


async def test_a_completed_participant_may_not_chat(cast):
    await database_sync_to_async(Participant.objects.filter(pk=cast.participant.pk).update)(
        status=Participant.Status.COMPLETED
    )
    comm = communicator(cast.path(), cast.session_key)
    await comm.connect(timeout=5)
    frames, code = await closed_with(comm)
    assert code == 4403 and frames[0]["code"] == "finished"


async def test_history_frames_are_json_objects_with_the_documented_keys(cast):
    comm, history = await open_chat(cast)
    await comm.disconnect(timeout=5)
    assert set(history) == {
        "type",
        "messages",
        "turns_used",
        "max_turns",
        "min_turns",
        "can_finish",
        "can_retry",
        "in_flight",
        "active",
        "technical_exit",
    }


def sample(name: str, **labels: str) -> float:
    return metrics._REGISTRY.get_sample_value(name, labels) or 0.0


async def test_sockets_and_replies_are_counted_in_the_metrics(cast, scripted):
    endpoint = str(cast.endpoint.pk)
    before = {
        "open": sample("studyapp_chat_sockets_open"),
        "replies": sample(
            "studyapp_chat_replies_total", endpoint=endpoint, status="complete", error_code=""
        ),
        "first": sample("studyapp_chat_reply_first_token_seconds_count", endpoint=endpoint),
        "gaps": sample("studyapp_chat_reply_token_gap_seconds_count", endpoint=endpoint),
    }
    comm, _ = await open_chat(cast)
    assert sample("studyapp_chat_sockets_open") == before["open"] + 1
    await send(comm, "#long:5 hello")
    await frames_until(comm, "end")
    await comm.disconnect(timeout=5)
    assert sample("studyapp_chat_sockets_open") == before["open"]
    assert (
        sample("studyapp_chat_replies_total", endpoint=endpoint, status="complete", error_code="")
        == before["replies"] + 1
    )
    assert (
        sample("studyapp_chat_reply_first_token_seconds_count", endpoint=endpoint)
        == before["first"] + 1
    )
    assert (
        sample("studyapp_chat_reply_token_gap_seconds_count", endpoint=endpoint)
        == before["gaps"] + 4
    )


async def test_a_socket_that_floods_frames_is_slowed_down_without_closing(cast, settings):
    # Each history frame is a database read; the page polls at most every 2 s.
    settings.CHAT_FRAME_BURST = 5
    settings.CHAT_FRAMES_PER_S = 1.0
    comm, _ = await open_chat(cast)
    for _ in range(12):
        await comm.send_json_to({"type": "history"})
    frames = [await comm.receive_json_from(timeout=5) for _ in range(12)]
    kinds = [f["type"] if f["type"] == "history" else f["code"] for f in frames]
    assert kinds.count("history") in (5, 6)  # the burst (and at most one refilled)
    assert kinds.count("too_fast") == 12 - kinds.count("history")
    # The socket is still open and serves a frame once the budget refills.
    await asyncio.sleep(1.1)
    await comm.send_json_to({"type": "history"})
    assert (await comm.receive_json_from(timeout=5))["type"] == "history"
    await comm.disconnect(timeout=5)


SELF_NAMING = "I am Llama 3, made by Meta AI. As Llama I suggest rest; llamas are animals."


@pytest.mark.parametrize("action", ["replace", "flag"])
async def test_the_blinding_guard_replaces_or_flags_a_models_name_and_records_it(
    transactional_db, scripted, action
):
    @database_sync_to_async
    def guarded_cast():
        cast = make_cast(scripted.base_url, blinding_terms=["Llama", "Meta AI", "Llama 3"])
        cast.arm.study.blinding_action = action
        cast.arm.study.save(update_fields=["blinding_action"])
        return cast

    cast = await guarded_cast()
    scripted.configure(keyed_replies=[["who are you", SELF_NAMING]], token_delay_s=0.01)
    comm, _ = await open_chat(cast)
    await send(comm, "who are you?")
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)
    comm, history = await open_chat(cast)
    await comm.disconnect(timeout=5)

    shown = "".join(f["html"] for f in frames if f["type"] == "delta")
    expected = (
        "I am the assistant, made by the assistant. As the assistant I suggest rest; "
        "llamas are animals."
        if action == "replace"
        else SELF_NAMING
    )
    # Streamed (terms split across tokens) and in the history alike.
    assert shown == escape(expected)
    assert history["messages"][-1]["html"] == escape(expected)
    reply = (await messages_of(cast))[-1]
    assert reply.text == SELF_NAMING  # the model's own words are what is stored
    assert [(h["term"], SELF_NAMING[h["start"] : h["end"]]) for h in reply.blinding_hits] == [
        ("Llama 3", "Llama 3"),
        ("Meta AI", "Meta AI"),
        ("Llama", "Llama"),
    ]
