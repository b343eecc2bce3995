"""A preview participant (participation.preview) chats like a participant: the browser
that made the preview holds it, the socket takes it and the reply streams from the arm's
real endpoint (the scripted server here)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from studyapp.chat.models import Message
from studyapp.participation.models import Participant
from studyapp.participation.preview import preview_start
from studyapp.participation.services import participant_read_instructions
from studyapp.studies.models import Study
from tests.chat.conftest import closed_with, communicator, frames_until, send, session_for
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _preview(base_url: str) -> tuple[Participant, str]:
    study = make_study("preview-chat", status=Study.Status.DRAFT)
    scenario = make_scenario(study, "belly")
    arm = make_llm_arm(study, make_endpoint(base_url, model="scripted-demo", timeout_s=5.0))
    participant = preview_start(study=study, arm_id=arm.pk, scenario_id=scenario.pk)
    participant_read_instructions(participant_id=participant.pk)
    return participant, session_for(participant)


@database_sync_to_async
def _replies(participant: Participant) -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(conversation__task__participant=participant)
        .order_by("sequence")
        .values_list("role", "status")
    )


async def test_a_preview_of_a_draft_study_chats_with_the_real_endpoint(scripted):
    participant, session_key = await _preview(scripted.base_url)
    comm = communicator(f"/ws/p/{participant.token}/tasks/1/chat/", session_key)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    assert (await comm.receive_json_from(timeout=5))["type"] == "history"

    await send(comm, "My tummy hurts.")
    frames = await frames_until(comm, "end")
    await comm.disconnect(timeout=5)

    assert frames[-1]["status"] == "complete"
    assert [f for f in frames if f["type"] == "delta"]
    assert await _replies(participant) == [("user", "complete"), ("assistant", "complete")]
    assert len(scripted.requests()) == 1


async def test_another_browser_cannot_open_the_preview_chat(scripted):
    participant, _ = await _preview(scripted.base_url)
    comm = communicator(f"/ws/p/{participant.token}/tasks/1/chat/", None)
    await comm.connect(timeout=5)
    frames, code = await closed_with(comm)
    assert code is not None and code != 1000
    assert [f["type"] for f in frames] == ["error"]
    assert await _replies(participant) == []
