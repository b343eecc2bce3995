"""Coalescing deltas: first piece at once, then at most one frame per interval, by timer."""

from __future__ import annotations

import asyncio
import time

from studyapp.chat.framing import DeltaFramer


class Recorder:
    def __init__(self) -> None:
        self.frames: list[tuple[float, str]] = []

    async def __call__(self, piece: str) -> None:
        self.frames.append((time.monotonic(), piece))

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.frames]


async def test_the_first_piece_goes_out_at_once_and_the_rest_waits_for_the_timer():
    sent = Recorder()
    framer = DeltaFramer(sent, interval_s=0.05)
    await framer.push("a")
    assert sent.texts == ["a"]
    await framer.push("b")
    await framer.push("c")
    assert sent.texts == ["a"]
    # No further token arrives: the timer alone flushes what is pending.
    await asyncio.sleep(0.1)
    assert sent.texts == ["a", "bc"]


async def test_frames_are_never_closer_than_the_interval():
    sent = Recorder()
    framer = DeltaFramer(sent, interval_s=0.03)
    for i in range(40):
        await framer.push(f"{i} ")
        await asyncio.sleep(0.004)
    await framer.flush()
    assert "".join(sent.texts) == "".join(f"{i} " for i in range(40))
    gaps = [b - a for (a, _), (b, _) in zip(sent.frames, sent.frames[1:], strict=False)]
    assert len(sent.frames) < 15
    assert min(gaps[:-1]) >= 0.028  # the final flush() before the end frame may come sooner


async def test_flush_sends_what_is_pending_and_cancel_drops_it():
    sent = Recorder()
    framer = DeltaFramer(sent, interval_s=10)
    await framer.push("a")
    await framer.push("b")
    await framer.flush()
    assert sent.texts == ["a", "b"]
    await framer.push("c")
    framer.cancel()
    await asyncio.sleep(0.01)
    assert sent.texts == ["a", "b"]
    await framer.push("")
    assert framer.frames_sent == 2
