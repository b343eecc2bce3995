"""Long idle and streaming sockets on the Redis stack (at least two minutes, zero drops),
then the logs of every server: no participant link token, PID or SESSION_ID anywhere.

Runs last of the drills (file order), so the log check covers all of them."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tests.drills.client import SECRETS, Reply, SocketClosed, send_and_read
from tests.drills.stack import Stack, print_drill
from tests.drills.test_chat_drills import close_all, participants

pytestmark = [pytest.mark.drill, pytest.mark.timeout(900)]

SOAK_S = float(os.environ.get("STUDYAPP_SOAK_S", "130"))


async def test_idle_and_streaming_sockets_survive_a_long_soak(healthy: Stack):
    idle = await participants(healthy, 20, "idle")
    busy = await participants(healthy, 5, "busy")
    try:
        deadline = time.monotonic() + SOAK_S

        async def keep_chatting(i: int, chat) -> list[Reply]:
            replies = []
            turn = 0
            while time.monotonic() < deadline:
                turn += 1
                replies.append(
                    await send_and_read(chat, "#slow:0.1 #long:80 and then?", f"b{i}-{turn}")
                )
            return replies

        async def sit_idle(chat) -> None:
            # Nothing is sent or expected until the end; any frame or close is a failure.
            try:
                frame = await chat.recv(within=SOAK_S)
                raise AssertionError(f"an idle socket got {frame}")
            except TimeoutError:
                pass

        started = time.monotonic()
        results = await asyncio.gather(
            *(keep_chatting(i, chat) for i, (_, chat) in enumerate(busy)),
            *(sit_idle(chat) for _, chat in idle),
            return_exceptions=True,
        )
        soaked_s = time.monotonic() - started
        failures = [r for r in results if isinstance(r, BaseException)]
        replies = [reply for r in results[: len(busy)] if isinstance(r, list) for reply in r]
        # After the soak every idle socket still answers.
        answered = 0
        for _, chat in idle:
            try:
                await chat.send_frame({"type": "history"})
                answered += (await chat.recv(within=10))["type"] == "history"
            except (SocketClosed, TimeoutError):
                pass
        drops = sum(chat.closes for _, chat in idle + busy)
        incomplete = sum(1 for r in replies if r.status != "complete")
        print_drill(
            "soak: idle and streaming sockets on Redis",
            soaked_s=round(soaked_s),
            idle_sockets=len(idle),
            streaming_sockets=len(busy),
            replies=len(replies),
            replies_not_complete=incomplete,
            socket_drops=drops,
            idle_sockets_answering_after=answered,
        )
        assert not failures, failures[:3]
        assert drops == 0 and incomplete == 0 and answered == len(idle)
        assert soaked_s >= SOAK_S
    finally:
        await close_all(idle + busy)


def test_no_server_logged_a_token_pid_or_session_id(stack: Stack):
    assert len(SECRETS) >= 20, "the drills should have used many participants"
    text = stack.log_text()
    leaked = sorted(s for s in SECRETS if s in text)
    print_drill(
        "logs of every server",
        bytes=len(text),
        secrets_checked=len(SECRETS),
        secrets_found=len(leaked),
    )
    assert not leaked, leaked[:5]
