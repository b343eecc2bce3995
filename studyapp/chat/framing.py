"""Coalescing streamed text into WebSocket frames.

The first piece goes out at once (time to first token is what participants feel); later
pieces are batched so a fast model does not cost one frame per token. A timer flushes the
batch, so text never waits for the next token to arrive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class DeltaFramer:
    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._interval = interval_s
        self._clock = clock
        self._pending: list[str] = []
        self._last_sent: float | None = None
        self._timer: asyncio.Task | None = None
        # The timer and the stream both send; frames must not interleave or reorder.
        self._lock = asyncio.Lock()
        self.frames_sent = 0

    async def push(self, piece: str) -> None:
        if not piece:
            return
        self._pending.append(piece)
        if self._last_sent is None:
            await self.flush()
            return
        wait = self._last_sent + self._interval - self._clock()
        if wait <= 0:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later(wait))

    async def flush(self) -> None:
        """Send whatever is pending now (e.g. before the end frame)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._flush_pending()

    def cancel(self) -> None:
        """Drop the timer (the reply was cancelled); pending text is not sent."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()

    async def _flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        # Cleared before sending, so flush() never cancels a send in progress.
        self._timer = None
        await self._flush_pending()

    async def _flush_pending(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            piece = "".join(self._pending)
            self._pending.clear()
            self._last_sent = self._clock()
            self.frames_sent += 1
            await self._send(piece)
