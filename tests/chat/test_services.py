"""Conversation writes and reads: snapshot, storing messages, turn rules, stale replies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from studyapp.chat.models import Conversation, Message
from studyapp.chat.selectors import (
    HistoryItem,
    conversation_snapshot,
    conversation_turn_state,
    model_messages,
    turn_state_from,
)
from studyapp.chat.services import (
    ChatRefused,
    conversation_get_or_create,
    message_retry,
    message_retry_and_begin,
    message_store_and_begin,
    message_store_user,
    recover_stale_replies,
    reply_begin,
    reply_save_partial,
)
from studyapp.chat.tasks import recover_stale_replies_task
from studyapp.participation.models import Participant, Task
from tests.chat.conftest import make_cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast():
    return make_cast("http://127.0.0.1:9/v1")


@pytest.fixture
def conversation(cast) -> Conversation:
    return conversation_get_or_create(task=cast.task)


def add_reply(
    conversation: Conversation, user_id: int, status: str, *, age_s: float = 0
) -> Message:
    sequence = conversation.messages.count() + 1
    message = Message.objects.create(
        conversation=conversation,
        sequence=sequence,
        role=Message.Role.ASSISTANT,
        text="reply",
        status=status,
        reply_to_id=user_id,
    )
    if age_s:
        Message.objects.filter(pk=message.pk).update(
            created_at=timezone.now() - timedelta(seconds=age_s)
        )
    return message


def test_a_conversation_freezes_the_arm_and_endpoint(cast):
    cast.arm.sampling_params = {"temperature": 0.2, "max_tokens": 64}
    cast.arm.save()
    conversation = conversation_get_or_create(task=cast.task)
    cast.arm.system_prompt = "changed later"
    cast.arm.save()
    cast.endpoint.model = "another-model"
    cast.endpoint.save()

    again = conversation_get_or_create(task=cast.task)
    again.refresh_from_db()
    assert again.pk == conversation.pk
    assert again.system_prompt == "You are a careful assistant."
    assert again.model == "scripted-demo" and again.is_scripted
    assert again.base_url == "http://127.0.0.1:9/v1"
    assert again.sampling_params == {"temperature": 0.2, "max_tokens": 64}
    assert (again.min_turns, again.max_turns, again.timeout_s) == (1, 10, 5.0)


def test_it_refuses_a_conversation_for_a_control_arm_or_an_inactive_task():
    control = make_cast("http://127.0.0.1:9/v1", slug="ctl", control=True)
    with pytest.raises(ChatRefused) as caught:
        conversation_get_or_create(task=control.task)
    assert caught.value.code == "not_llm"

    pending = make_cast("http://127.0.0.1:9/v1", slug="pending")
    Task.objects.filter(pk=pending.task.pk).update(status=Task.Status.PENDING)
    pending.task.refresh_from_db()
    with pytest.raises(ChatRefused) as caught:
        conversation_get_or_create(task=pending.task)
    assert caught.value.code == "finished"
    assert Conversation.objects.count() == 0


def test_it_stores_the_participant_message_stripped_with_the_next_sequence(conversation):
    stored = message_store_user(
        conversation_id=conversation.pk, text="  hello\n", client_message_id="a"
    )
    assert (stored.sequence, stored.duplicate, stored.needs_reply) == (1, False, True)
    message = Message.objects.get(pk=stored.message_id)
    assert (message.text, message.role, message.status) == ("hello", "user", "complete")


def test_a_participant_message_counts_as_activity_for_the_timeout(cast, conversation):
    then = timezone.now() + timedelta(minutes=30)
    message_store_user(conversation_id=conversation.pk, text="hello", now=then)
    assert Participant.objects.get(pk=cast.participant.pk).last_seen_at == then


def test_a_resent_client_id_returns_the_stored_message(conversation):
    first = message_store_user(conversation_id=conversation.pk, text="hi", client_message_id="x")
    add_reply(conversation, first.message_id, Message.Status.COMPLETE)
    again = message_store_user(conversation_id=conversation.pk, text="hi", client_message_id="x")
    assert again.message_id == first.message_id
    assert again.duplicate and not again.needs_reply
    assert conversation.messages.filter(role="user").count() == 1


def test_a_fresh_streaming_reply_blocks_and_a_stale_one_is_marked_interrupted(conversation):
    first = message_store_user(conversation_id=conversation.pk, text="one", client_message_id="1")
    streaming = add_reply(conversation, first.message_id, Message.Status.STREAMING)
    with pytest.raises(ChatRefused) as caught:
        message_store_user(conversation_id=conversation.pk, text="two", client_message_id="2")
    assert caught.value.code == "in_flight"

    Message.objects.filter(pk=streaming.pk).update(
        created_at=timezone.now() - timedelta(seconds=3600)
    )
    stored = message_store_user(conversation_id=conversation.pk, text="two", client_message_id="2")
    streaming.refresh_from_db()
    assert streaming.status == "interrupted" and streaming.error.startswith("stale")
    assert stored.sequence == 3


def test_it_refuses_messages_once_the_task_is_no_longer_active(cast, conversation):
    Task.objects.filter(pk=cast.task.pk).update(status=Task.Status.ANSWERING)
    with pytest.raises(ChatRefused) as caught:
        message_store_user(conversation_id=conversation.pk, text="late", client_message_id="l")
    assert caught.value.code == "finished"
    assert "closed" in caught.value.message


def test_a_retry_targets_the_message_whose_reply_failed(conversation):
    first = message_store_user(conversation_id=conversation.pk, text="q", client_message_id="q")
    add_reply(conversation, first.message_id, Message.Status.COMPLETE)
    with pytest.raises(ChatRefused) as caught:
        message_retry(conversation_id=conversation.pk)
    assert caught.value.code == "nothing_to_retry"
    second = message_store_user(conversation_id=conversation.pk, text="r", client_message_id="r")
    add_reply(conversation, second.message_id, Message.Status.ERROR)
    assert message_retry(conversation_id=conversation.pk) == second.message_id

    plan = reply_begin(conversation_id=conversation.pk, user_message_id=second.message_id)
    assert plan.sequence == 5
    assert [m["role"] for m in plan.messages] == ["system", "user", "assistant", "user"]
    with pytest.raises(ChatRefused) as caught:
        reply_begin(conversation_id=conversation.pk, user_message_id=second.message_id)
    assert caught.value.code == "in_flight"


def test_a_reply_may_only_answer_the_latest_participant_message(conversation):
    first = message_store_user(conversation_id=conversation.pk, text="a", client_message_id="a")
    add_reply(conversation, first.message_id, Message.Status.COMPLETE)
    with pytest.raises(ChatRefused):
        reply_begin(conversation_id=conversation.pk, user_message_id=first.message_id)


def test_turns_count_replied_messages_and_the_one_awaiting_a_reply(conversation):
    a = message_store_user(conversation_id=conversation.pk, text="a", client_message_id="a")
    state = conversation_turn_state(conversation_id=conversation.pk)
    assert (state.turns_used, state.completed_turns) == (1, 0)
    add_reply(conversation, a.message_id, Message.Status.ERROR)
    b = message_store_user(conversation_id=conversation.pk, text="b", client_message_id="b")
    # "a" failed and was followed by "b": only "b" (awaiting its reply) uses a turn.
    state = conversation_turn_state(conversation_id=conversation.pk)
    assert (state.turns_used, state.completed_turns, state.can_finish) == (1, 0, False)
    add_reply(conversation, b.message_id, Message.Status.COMPLETE)
    state = conversation_turn_state(conversation_id=conversation.pk)
    assert (state.turns_used, state.completed_turns, state.can_finish) == (1, 1, True)
    snapshot = conversation_snapshot(conversation_id=conversation.pk)
    assert snapshot.turns == state
    assert not snapshot.can_retry and not snapshot.in_flight


def test_it_stops_at_max_turns(cast):
    cast.arm.max_turns = 1
    cast.arm.save()
    conversation = conversation_get_or_create(task=cast.task)
    a = message_store_user(conversation_id=conversation.pk, text="a", client_message_id="a")
    add_reply(conversation, a.message_id, Message.Status.COMPLETE)
    with pytest.raises(ChatRefused) as caught:
        message_store_user(conversation_id=conversation.pk, text="b", client_message_id="b")
    assert caught.value.code == "max_turns"


def test_a_failed_reply_does_not_use_up_a_turn(cast):
    cast.arm.max_turns = 1
    cast.arm.save()
    conversation = conversation_get_or_create(task=cast.task)
    a = message_store_user(conversation_id=conversation.pk, text="a", client_message_id="a")
    add_reply(conversation, a.message_id, Message.Status.ERROR)
    # The model failed: the participant may write again instead of pressing "Try again".
    b = message_store_user(conversation_id=conversation.pk, text="b", client_message_id="b")
    add_reply(conversation, b.message_id, Message.Status.COMPLETE)
    with pytest.raises(ChatRefused) as caught:
        message_store_user(conversation_id=conversation.pk, text="c", client_message_id="c")
    assert caught.value.code == "max_turns"


def test_a_long_reply_that_keeps_its_heartbeat_is_not_stale(conversation):
    a = message_store_user(conversation_id=conversation.pk, text="a", client_message_id="a")
    alive = add_reply(conversation, a.message_id, Message.Status.STREAMING, age_s=3600)
    Message.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now())
    with pytest.raises(ChatRefused) as caught:
        message_retry(conversation_id=conversation.pk)
    assert caught.value.code == "in_flight"
    assert recover_stale_replies() == 0


def test_a_reply_whose_heartbeat_stopped_is_interrupted_with_its_saved_text(
    conversation, settings
):
    a = message_store_user(conversation_id=conversation.pk, text="a", client_message_id="a")
    dead = add_reply(conversation, a.message_id, Message.Status.STREAMING)
    reply_save_partial(message_id=dead.pk, text="What the participant read")
    with pytest.raises(ChatRefused):
        message_retry(conversation_id=conversation.pk)
    # The writer's process died: its heartbeat ages past CHAT_STALE_REPLY_S.
    Message.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.CHAT_STALE_REPLY_S + 1)
    )
    assert message_retry(conversation_id=conversation.pk) == a.message_id
    dead.refresh_from_db()
    assert (dead.status, dead.text) == ("interrupted", "What the participant read")


def test_a_partial_save_never_reopens_a_reply_that_ended(conversation):
    a = message_store_user(conversation_id=conversation.pk, text="a", client_message_id="a")
    done = add_reply(conversation, a.message_id, Message.Status.COMPLETE)
    assert reply_save_partial(message_id=done.pk, text="late") is False
    done.refresh_from_db()
    assert (done.status, done.text) == ("complete", "reply")


def item(i: int, role: str, text: str, status: str = "complete", reply_to: int | None = None):
    return HistoryItem(i, i, role, text, status, None, reply_to, timezone.now())


def test_the_model_sees_alternating_turns_with_failed_replies_merged_away():
    history = [
        item(1, "user", "first"),
        item(2, "assistant", "partial", "interrupted", 1),
        item(3, "user", "second"),
        item(4, "assistant", "answer", "complete", 3),
        item(5, "user", "third"),
        item(6, "assistant", "", "error", 5),
    ]
    assert model_messages(system_prompt="sys", history=history) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first\n\nsecond"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "third"},
    ]
    assert model_messages(system_prompt="  ", history=history[:1]) == [
        {"role": "user", "content": "first"}
    ]


def test_turn_state_is_pure_over_a_history():
    history = [
        item(1, "user", "a"),
        item(2, "assistant", "x", "complete", 1),
        item(3, "user", "b"),
    ]
    state = turn_state_from(history=history, min_turns=2, max_turns=3)
    assert (state.turns_used, state.completed_turns, state.can_finish, state.turns_left) == (
        2,
        1,
        False,
        1,
    )


def test_stale_replies_are_recovered_by_the_periodic_task(conversation):
    a = message_store_user(conversation_id=conversation.pk, text="a", client_message_id="a")
    stale = add_reply(conversation, a.message_id, Message.Status.STREAMING, age_s=3600)
    assert recover_stale_replies() == 1
    stale.refresh_from_db()
    assert stale.status == "interrupted"
    b = message_store_user(conversation_id=conversation.pk, text="b", client_message_id="b")
    fresh = add_reply(conversation, b.message_id, Message.Status.STREAMING)
    assert recover_stale_replies_task() == 0
    fresh.refresh_from_db()
    assert fresh.status == "streaming"


def test_a_send_stores_the_message_and_begins_its_reply_in_one_transaction(
    conversation, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):  # lock, history, insert, mark seen, insert (+tx)
        stored, plan = message_store_and_begin(
            conversation_id=conversation.pk, text=" Hello ", client_message_id="h1"
        )
    user, reply = conversation.messages.order_by("sequence")
    assert (user.role, user.text, user.status) == ("user", "Hello", "complete")
    assert (reply.role, reply.status, reply.reply_to_id) == ("assistant", "streaming", user.pk)
    assert (stored.sequence, plan.sequence, plan.message_id) == (1, 2, reply.pk)
    assert plan.messages[-1] == {"role": "user", "content": "Hello"}
    # The same client id again: no second message, and no second reply (one is streaming).
    again, again_plan = message_store_and_begin(
        conversation_id=conversation.pk, text="Hello", client_message_id="h1"
    )
    assert again.duplicate and again_plan is None
    assert conversation.messages.count() == 2
    # A new message while that reply streams is refused, and nothing is stored.
    with pytest.raises(ChatRefused) as caught:
        message_store_and_begin(
            conversation_id=conversation.pk, text="more", client_message_id="m"
        )
    assert caught.value.code == "in_flight"
    assert conversation.messages.count() == 2


def test_a_retry_begins_the_new_reply_in_the_same_transaction(conversation):
    stored, plan = message_store_and_begin(
        conversation_id=conversation.pk, text="q", client_message_id="q"
    )
    Message.objects.filter(pk=plan.message_id).update(status=Message.Status.ERROR)
    target, retry = message_retry_and_begin(conversation_id=conversation.pk)
    assert target == stored.message_id
    new_reply = Message.objects.get(pk=retry.message_id)
    assert (new_reply.status, new_reply.reply_to_id, new_reply.sequence) == (
        "streaming",
        stored.message_id,
        3,
    )
    # The failed reply stays stored; the model is sent the participant's message only.
    assert [m["role"] for m in retry.messages] == ["system", "user"]
    with pytest.raises(ChatRefused) as caught:
        message_retry_and_begin(conversation_id=conversation.pk)
    assert caught.value.code == "in_flight"
