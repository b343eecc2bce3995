"""Chat fixtures: a real scripted model server, and a participant whose session holds
their token (the way a browser that opened their link would)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from studyapp.participation.access import session_bind_participant
from studyapp.participation.models import Participant, Task
from studyapp.studies.models import Arm, ModelEndpoint
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_participant,
    make_scenario,
    make_study,
)


@dataclass
class Cast:
    participant: Participant
    task: Task
    arm: Arm
    endpoint: ModelEndpoint
    session_key: str

    @property
    def token(self) -> str:
        return self.participant.token

    def path(self, position: int | None = None) -> str:
        pos = self.task.position if position is None else position
        return f"/ws/p/{self.token}/tasks/{pos}/chat/"


def session_for(*participants: Participant) -> str:
    session = SessionStore()
    for participant in participants:
        session_bind_participant(session, participant)
    session.save()
    return session.session_key


def make_cast(base_url: str, *, slug: str = "chat-study", control: bool = False, **arm_kwargs):
    study = make_study(slug)
    scenario = make_scenario(study, f"{slug}-s1")
    endpoint = make_endpoint(base_url, model="scripted-demo", timeout_s=5.0)
    if control:
        arm = make_control_arm(study)
    else:
        arm = make_llm_arm(
            study, endpoint, system_prompt="You are a careful assistant.", **arm_kwargs
        )
    participant = make_participant(
        study, arm=arm, status=Participant.Status.CONSENTED, instructions_read_at=timezone.now()
    )
    task = Task.objects.create(
        participant=participant,
        scenario=scenario,
        position=1,
        status=Task.Status.ACTIVE,
        started_at=timezone.now(),
    )
    return Cast(participant, task, arm, endpoint, session_for(participant))


@pytest.fixture
def cast(transactional_db, scripted) -> Cast:
    return make_cast(scripted.base_url)


def communicator(
    path: str, session_key: str | None, *, accept_language: str | None = None
) -> WebsocketCommunicator:
    from studyapp.asgi import application

    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if session_key:
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    if accept_language is not None:
        headers.append((b"accept-language", accept_language.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def open_chat(cast: Cast) -> tuple[WebsocketCommunicator, dict]:
    comm = communicator(cast.path(), cast.session_key)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    history = await comm.receive_json_from(timeout=5)
    assert history["type"] == "history"
    return comm, history


async def frames_until(comm: WebsocketCommunicator, kind: str, limit_s: float = 5) -> list[dict]:
    """Every frame up to and including the first of type `kind`."""
    frames: list[dict] = []
    async with asyncio.timeout(limit_s):
        while True:
            frame = await comm.receive_json_from(timeout=limit_s)
            frames.append(frame)
            if frame["type"] == kind:
                return frames


async def send(comm: WebsocketCommunicator, text: str, client_id: str = "c1") -> None:
    await comm.send_to(
        text_data=json.dumps({"type": "send", "client_id": client_id, "text": text})
    )


async def closed_with(comm: WebsocketCommunicator) -> tuple[list[dict], int | None]:
    """After a refused connect: the frames sent, and the close code."""
    frames: list[dict] = []
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.send":
            frames.append(json.loads(output["text"]))
        elif output["type"] == "websocket.close":
            return frames, output.get("code")


@pytest.fixture(autouse=True, scope="session")
def _chat_pools_closed(django_db_setup, django_db_blocker):
    """On PostgreSQL the chat's turns run on an async pool per event loop (chat.pgturns);
    each test's loop leaves one behind: close what they hold before the test database is
    dropped (this fixture depends on the database's, so it is torn down first)."""
    yield
    from studyapp.chat import pgturns

    pgturns.close_dead_pools()
