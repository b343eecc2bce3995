"""Withdrawing consent deletes the participant's content; the ledger stays, anonymous."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from studyapp.analysis.consort import study_consort
from studyapp.chat.models import Conversation, Message
from studyapp.chat.services import conversation_get_or_create, message_store_user
from studyapp.participation.enrolment import participant_withdraw
from studyapp.participation.models import Allocation, Answer, Participant, ParticipantEvent, Task
from studyapp.participation.services import participant_consent
from tests.factories import make_participant
from tests.participation.conftest import enter

PID = "60a1b2c3d4e5f6a7b8c9d0ff"


@pytest.fixture
def answered(control_study, client):
    flow = enter(client, control_study, PROLIFIC_PID=PID)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    flow.post("sources", {"sources_text": "NHS website"}, position=1)
    flow.post("answer", flow.answer_data(), position=1)
    assert Answer.objects.filter(task__participant=flow.participant).count() == 1
    return flow


def test_withdrawing_asks_first_then_deletes_everything_they_gave(answered):
    participant_id = answered.participant.pk
    confirm = answered.client.get(answered.url("withdraw"))
    assert "Withdraw and delete my answers" in confirm.content.decode()
    assert Participant.objects.filter(pk=participant_id).exists()

    done = answered.post("withdraw")
    assert done.status_code == 200
    assert "You have withdrawn" in done.content.decode()
    assert not Participant.objects.filter(pk=participant_id).exists()
    assert not Task.objects.filter(participant_id=participant_id).exists()
    assert not Answer.objects.filter(task__participant_id=participant_id).exists()
    assert not ParticipantEvent.objects.filter(participant_id=participant_id).exists()


def test_the_ledger_row_stays_anonymous_and_still_verifies(answered, control_study):
    answered.post("withdraw")
    [row] = Allocation.objects.filter(study=control_study)
    assert row.participant_id is None
    assert row.outcome == Allocation.Outcome.ASSIGNED
    withdrawal = ParticipantEvent.objects.get(study=control_study, kind="withdrawn")
    assert withdrawal.participant_id is None
    assert withdrawal.arm_id == row.arm_id
    assert PID not in withdrawal.pid_digest
    out = StringIO()
    call_command("verify_allocation", control_study.slug, stdout=out)
    assert out.getvalue().startswith("OK")
    assert "1 assigned row(s) are anonymous (withdrawn)" in out.getvalue()
    consort = study_consort(study=control_study)
    assert consort.assessed == 1 and consort.allocated == 1
    assert consort.arms[0].withdrawn == 1 and consort.arms[0].analysed == 0


def test_a_withdrawn_pid_is_not_enrolled_again(answered, control_study):
    answered.post("withdraw")
    for method in (Client().get, Client().post):
        response = method(f"/s/{control_study.slug}/", {"PROLIFIC_PID": PID})
        assert response.status_code == 200
        assert "You have withdrawn" in response.content.decode()
    assert not Participant.objects.filter(study=control_study).exists()
    # Someone else still can.
    other = enter(Client(), control_study, PROLIFIC_PID="someone-else")
    assert other.participant.prolific_pid == "someone-else"


def test_the_old_link_no_longer_opens_anything(answered):
    answered.post("withdraw")
    assert answered.home().status_code == 404


def test_withdrawal_also_deletes_chat_messages(llm_study):
    participant = participant_consent(participant_id=make_participant(llm_study).pk)
    task = participant.tasks.get(position=1)
    conversation = conversation_get_or_create(task=task)
    message_store_user(conversation_id=conversation.pk, text="my symptoms", client_message_id="c1")
    assert Message.objects.filter(conversation=conversation).exists()
    participant_withdraw(participant_id=participant.pk)
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
