"""Finishing the chat: only after the minimum number of answered messages."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from studyapp.chat.models import Message
from studyapp.chat.services import conversation_get_or_create, message_store_user
from studyapp.participation.access import session_holds_token
from studyapp.participation.models import Task
from tests.chat.conftest import make_cast

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.chat.urls")]


@pytest.fixture
def cast():
    return make_cast("http://127.0.0.1:9/v1", min_turns=2)


def chat_turn(cast, text: str, reply_status: str = Message.Status.COMPLETE) -> None:
    conversation = conversation_get_or_create(task=cast.task)
    stored = message_store_user(conversation_id=conversation.pk, text=text, client_message_id=text)
    Message.objects.create(
        conversation=conversation,
        sequence=stored.sequence + 1,
        role=Message.Role.ASSISTANT,
        text="ok",
        status=reply_status,
        reply_to_id=stored.message_id,
    )


def finish_url(cast) -> str:
    return reverse("chat:finish", kwargs={"token": cast.token, "position": 1})


def test_it_refuses_to_finish_before_the_minimum_turns(client, cast):
    chat_turn(cast, "one")
    chat_turn(cast, "two", Message.Status.ERROR)
    response = client.post(finish_url(cast))
    assert response.status_code == 302
    assert response["Location"] == f"/p/{cast.token}/"
    cast.task.refresh_from_db()
    assert cast.task.status == Task.Status.ACTIVE
    [message] = list(get_messages(response.wsgi_request))
    assert "at least 1 more message" in str(message)


def test_it_moves_on_to_the_questions_after_the_minimum_turns(client, cast):
    chat_turn(cast, "one")
    chat_turn(cast, "two")
    response = client.post(finish_url(cast))
    assert response.status_code == 302 and response["Location"] == f"/p/{cast.token}/"
    cast.task.refresh_from_db()
    assert cast.task.status == Task.Status.ANSWERING
    assert session_holds_token(client.session, cast.token)
    assert list(get_messages(response.wsgi_request)) == []


def test_it_refuses_to_finish_while_a_reply_streams(client, cast):
    chat_turn(cast, "one")
    chat_turn(cast, "two")
    conversation = conversation_get_or_create(task=cast.task)
    Message.objects.create(
        conversation=conversation, sequence=9, role="assistant", status="streaming"
    )
    client.post(finish_url(cast))
    cast.task.refresh_from_db()
    assert cast.task.status == Task.Status.ACTIVE


def test_it_rejects_get_and_unknown_links(client, cast):
    assert client.get(finish_url(cast)).status_code == 405
    bad = reverse("chat:finish", kwargs={"token": "nope", "position": 1})
    assert client.post(bad).status_code == 404
    other = reverse("chat:finish", kwargs={"token": cast.token, "position": 5})
    assert client.post(other).status_code == 404


def test_finishing_twice_is_harmless(client, cast):
    chat_turn(cast, "one")
    chat_turn(cast, "two")
    client.post(finish_url(cast))
    response = client.post(finish_url(cast))
    assert response.status_code == 302
    cast.task.refresh_from_db()
    assert cast.task.status == Task.Status.ANSWERING


def render_widget(cast, *, scripted: bool) -> str:
    request = RequestFactory().get("/")
    context = {
        "participant": cast.participant,
        "task": cast.task,
        "arm": cast.arm,
        "assistant_label": cast.arm.participant_label,
        "conversation_is_scripted": scripted,
    }
    return render_to_string("chat/_chat.html", context, request=request)


def test_the_widget_labels_a_scripted_model_and_carries_the_socket_path(cast, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 1234
    html = render_widget(cast, scripted=True)
    assert "Scripted demo model — not an AI" in html
    assert f'data-ws-path="/ws/p/{cast.token}/tasks/1/chat/"' in html
    assert 'data-max-chars="1234"' in html and 'maxlength="1234"' in html
    assert f'action="{finish_url(cast)}"' in html
    assert "csrfmiddlewaretoken" in html
    assert "Pasting is turned off" in html
    assert "0 of 10 messages used" in html


def test_the_widget_shows_no_badge_for_a_real_model(cast):
    cast.arm.participant_label = "Assistant <A>"
    html = render_widget(cast, scripted=False)
    assert "scripted-badge" not in html
    assert "Assistant &lt;A&gt;" in html
