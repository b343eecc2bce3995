"""'Leave the study: technical problem': the failure count, the server's check, the status,
its event, the ended page with its code, and its CONSORT box."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from studyapp.analysis.consort import study_consort
from studyapp.chat.exits import TechnicalExitRefused, participant_technical_exit
from studyapp.chat.models import Message
from studyapp.chat.selectors import (
    HistoryItem,
    conversation_snapshot,
    conversation_technical_exit,
    failures_in_a_row,
    technical_exit_offered,
)
from studyapp.chat.services import conversation_get_or_create, message_store_user
from studyapp.participation.enrolment import counting_statuses
from studyapp.participation.models import Allocation, Participant, ParticipantEvent, Task
from studyapp.participation.transitions import participant_record_entry
from studyapp.studies.models import Study
from tests.chat.conftest import make_cast

S = Message.Status
AT = datetime(2026, 1, 1, tzinfo=UTC)


def item(n: int, role: str, status: str = S.COMPLETE) -> HistoryItem:
    return HistoryItem(n, n, role, "text", status, None, None, AT, AT)


def replies(*statuses: str) -> list[HistoryItem]:
    """A user message before each reply, as the chat stores them."""
    history: list[HistoryItem] = []
    for status in statuses:
        history.append(item(len(history) + 1, Message.Role.USER))
        history.append(item(len(history) + 1, Message.Role.ASSISTANT, status))
    return history


# --- The count (pure) ------------------------------------------------------------------


def test_it_counts_failed_replies_since_the_last_complete_one():
    assert failures_in_a_row([]) == 0
    assert failures_in_a_row(replies(S.COMPLETE)) == 0
    assert failures_in_a_row(replies(S.ERROR, S.INTERRUPTED, S.ERROR)) == 3
    assert failures_in_a_row(replies(S.ERROR, S.ERROR, S.COMPLETE, S.ERROR)) == 1
    assert failures_in_a_row(replies(S.ERROR, S.ERROR, S.COMPLETE)) == 0


def test_a_reply_still_streaming_neither_counts_nor_resets():
    assert failures_in_a_row(replies(S.ERROR, S.ERROR, S.STREAMING)) == 2


def test_participant_messages_in_between_do_not_reset_the_count():
    history = replies(S.ERROR, S.ERROR)
    history.append(item(5, Message.Role.USER))  # a new message instead of "Try again"
    assert failures_in_a_row(history) == 2


@given(st.lists(st.sampled_from([S.COMPLETE, S.ERROR, S.INTERRUPTED, S.STREAMING])))
def test_the_count_is_the_failures_after_the_last_complete_reply(statuses):
    last_complete = max((i for i, s in enumerate(statuses) if s == S.COMPLETE), default=-1)
    expected = sum(1 for s in statuses[last_complete + 1 :] if s in (S.ERROR, S.INTERRUPTED))
    assert failures_in_a_row(replies(*statuses)) == expected


def test_the_exit_is_offered_at_the_threshold_of_an_active_task_only():
    assert technical_exit_offered(failures=3, threshold=3, task_active=True)
    assert technical_exit_offered(failures=4, threshold=3, task_active=True)
    assert not technical_exit_offered(failures=2, threshold=3, task_active=True)
    assert not technical_exit_offered(failures=3, threshold=3, task_active=False)
    assert not technical_exit_offered(failures=9, threshold=0, task_active=True)  # 0: never


# --- The server's check, the status and the event ---------------------------------------


@pytest.fixture
def cast(db):
    cast = make_cast("http://127.0.0.1:9/v1", slug="tech", min_turns=1)
    study = cast.participant.study
    study.code_technical_problem = "TECH42"
    study.code_timed_out = "LATE1"
    study.completion_url = "https://app.prolific.com/submissions/complete?cc=DONE"
    study.save()
    participant_record_entry(participant=cast.participant)
    return cast


def turn(cast, text: str, reply_status: str) -> None:
    conversation = conversation_get_or_create(task=cast.task)
    stored = message_store_user(conversation_id=conversation.pk, text=text, client_message_id=text)
    Message.objects.create(
        conversation=conversation,
        sequence=stored.sequence + 1,
        role=Message.Role.ASSISTANT,
        text="",
        status=reply_status,
        error="server_error (HTTP 500)" if reply_status == S.ERROR else "",
        reply_to_id=stored.message_id,
    )


def exit_url(cast) -> str:
    return reverse("chat:technical_exit", kwargs={"token": cast.token})


def client_for(cast) -> Client:
    client = Client()
    client.cookies["sessionid"] = cast.session_key
    return client


def test_it_refuses_before_the_threshold_and_says_why(cast):
    turn(cast, "one", S.ERROR)
    turn(cast, "two", S.INTERRUPTED)
    response = client_for(cast).post(exit_url(cast))
    assert response.status_code == 302 and response["Location"] == f"/p/{cast.token}/"
    [message] = list(get_messages(response.wsgi_request))
    assert "failed to answer several times in a row" in str(message)
    cast.participant.refresh_from_db()
    assert cast.participant.status == Participant.Status.CONSENTED
    assert not ParticipantEvent.objects.filter(kind="technical_problem").exists()


def test_a_complete_reply_starts_the_count_again(cast):
    turn(cast, "one", S.ERROR)
    turn(cast, "two", S.ERROR)
    turn(cast, "three", S.COMPLETE)
    turn(cast, "four", S.ERROR)
    with pytest.raises(TechnicalExitRefused):
        participant_technical_exit(participant_id=cast.participant.pk)


def test_a_study_with_threshold_zero_never_offers_it(cast):
    Study.objects.filter(pk=cast.participant.study_id).update(technical_exit_after=0)
    for text in ("one", "two", "three", "four"):
        turn(cast, text, S.ERROR)
    conversation = conversation_get_or_create(task=cast.task)
    assert conversation_snapshot(conversation_id=conversation.pk).technical_exit is False
    with pytest.raises(TechnicalExitRefused):
        participant_technical_exit(participant_id=cast.participant.pk)


def test_it_ends_the_session_after_the_threshold_and_keeps_the_data(
    cast, django_assert_max_num_queries
):
    for text in ("one", "two", "three"):
        turn(cast, text, S.ERROR)
    conversation = conversation_get_or_create(task=cast.task)
    assert conversation_snapshot(conversation_id=conversation.pk).technical_exit is True
    with django_assert_max_num_queries(2):
        assert conversation_technical_exit(conversation_id=conversation.pk) is True

    client = client_for(cast)
    response = client.post(exit_url(cast))
    assert response.status_code == 302 and response["Location"] == f"/p/{cast.token}/"
    cast.participant.refresh_from_db()
    assert cast.participant.status == Participant.Status.TECHNICAL_PROBLEM
    event = ParticipantEvent.objects.get(kind=ParticipantEvent.Kind.TECHNICAL_PROBLEM)
    assert event.participant_id == cast.participant.pk and event.arm_id == cast.arm.pk
    assert (event.from_status, event.to_status) == ("consented", "technical_problem")
    assert event.reason == "3 failed replies in a row (task 1)"
    # Not a withdrawal: the participant, the task and every message stay.
    assert Message.objects.filter(conversation__task=cast.task).count() == 6
    assert Task.objects.filter(pk=cast.task.pk).exists()
    # A resent form changes nothing.
    assert client.post(exit_url(cast)).status_code == 302
    assert ParticipantEvent.objects.filter(kind="technical_problem").count() == 1

    page = client.get(f"/p/{cast.token}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-outcome="technical_problem"' in html
    assert '<span class="completion-code" id="completion-code">TECH42</span>' in html
    assert "cc=TECH42" in html and "cc=DONE" not in html
    assert "technical problem" in html


def test_it_takes_only_a_post_with_a_csrf_token(cast):
    for text in ("one", "two", "three"):
        turn(cast, text, S.ERROR)
    client = client_for(cast)
    assert client.get(exit_url(cast)).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.cookies["sessionid"] = cast.session_key
    assert strict.post(exit_url(cast)).status_code == 403
    cast.participant.refresh_from_db()
    assert cast.participant.status == Participant.Status.CONSENTED


def test_an_ended_session_cannot_take_it(cast):
    for text in ("one", "two", "three"):
        turn(cast, text, S.ERROR)
    Participant.objects.filter(pk=cast.participant.pk).update(status="timed_out")
    with pytest.raises(TechnicalExitRefused, match="already ended"):
        participant_technical_exit(participant_id=cast.participant.pk)


def test_consort_counts_it_in_its_own_box_not_as_completed(cast):
    Allocation.objects.create(
        study=cast.participant.study,
        sequence=1,
        stratum="",
        stratum_sequence=1,
        block=1,
        block_size=1,
        block_position=1,
        arm=cast.arm,
        outcome=Allocation.Outcome.ASSIGNED,
        participant=cast.participant,
        created_at=AT,
    )
    for text in ("one", "two", "three"):
        turn(cast, text, S.ERROR)
    participant_technical_exit(participant_id=cast.participant.pk)
    consort = study_consort(study=cast.participant.study)
    [arm] = consort.arms
    assert arm.allocated == 1 and arm.technical_problem == 1
    assert arm.completed == arm.analysed == arm.timed_out == arm.in_progress == 0
    assert consort.as_dict()["arms"][arm.key]["technical_problem"] == 1


def test_they_count_toward_quotas_exactly_when_timed_out_participants_do(cast):
    study = cast.participant.study
    assert Participant.Status.TECHNICAL_PROBLEM not in counting_statuses(study)
    study.timed_out_count_toward_quota = True
    assert Participant.Status.TECHNICAL_PROBLEM in counting_statuses(study)
