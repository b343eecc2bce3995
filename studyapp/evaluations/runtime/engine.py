"""The job engine: model calls in an event loop thread, database writes in the caller's.

A chunk of an evaluation run is a list of *units* (one MCQ question with all its probes, one
scenario repetition, one simulated conversation). Units run concurrently in a private
asyncio loop on a helper thread; every finished item is handed back to the calling thread
and stored at once, so a worker killed mid-chunk loses at most the requests in flight.
Keeping the ORM in the calling thread (``run_units``: one runner for every kind, including
units that write themselves) keeps it inside the caller's transaction in tests, and off
the event loop (Django forbids sync ORM calls there).

Two bounds: ``concurrency`` is how many units of this chunk run at once (a bound per chunk,
so per process); each model request also holds one of its endpoint's slots
(``evaluations.runtime.slots``: ``evaluation_concurrency`` requests in flight to the endpoint from
every worker together), and waits for one while all are taken.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async

from studyapp.chat.llm import ChatResult, LLMError, OpenAICompatibleClient
from studyapp.evaluations.runtime import slots
from studyapp.evaluations.runtime.context import RunContext

logger = logging.getLogger(__name__)

# Failures worth another try: the server was overloaded, failed, or too slow.
RETRYABLE = frozenset({"rate_limited", "server_error", "timeout", "connection", "busy"})


@dataclass(frozen=True)
class ItemState:
    """What a unit needs to know of one stored item (plain data, read before the loop)."""

    pk: int
    item_key: str
    repetition: int
    turn: int
    status: str
    prompt: list
    response: str
    parsed: dict


@dataclass(frozen=True)
class ItemResult:
    """One finished item, handed from the loop thread to the writing thread."""

    pk: int
    ok: bool
    prompt: list = field(default_factory=list)
    response: str = ""
    error: str = ""
    time_to_first_token_ms: float | None = None
    duration_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = ""
    attempts: int = 1
    # Kind-specific facts found while running (a simulated transcript, for instance).
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Timed:
    result: ChatResult
    duration_ms: float
    attempts: int


async def complete_with_retries(
    client: OpenAICompatibleClient,
    messages: list[dict],
    params: dict[str, Any],
    *,
    attempts: int,
    base_delay_s: float,
    stop: threading.Event,
) -> Timed:
    """One completion, retried with exponential backoff and jitter on transient failures.

    Each attempt holds one of the endpoint's evaluation slots (not the backoff sleep, so a
    waiting retry leaves its slot to others); the duration leaves the wait for it out.
    """
    endpoint = client.config
    for attempt in range(1, attempts + 1):
        try:
            async with slots.evaluation_slot(
                endpoint.endpoint_id, endpoint.evaluation_concurrency, stop=stop
            ):
                started = time.monotonic()
                result = await client.complete(messages, params)
                duration_ms = (time.monotonic() - started) * 1000
            return Timed(result, duration_ms, attempt)
        except LLMError as exc:
            if exc.code not in RETRYABLE or attempt == attempts or stop.is_set():
                raise
            delay = base_delay_s * 2 ** (attempt - 1) * (1 + random.random() / 2)
            logger.info("evaluations: %s, retry %s in %.2f s", exc.code, attempt, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def result_from(pk: int, prompt: list, timed: Timed, **extra: Any) -> ItemResult:
    usage = timed.result.usage
    return ItemResult(
        pk=pk,
        ok=True,
        prompt=prompt,
        response=timed.result.text,
        # complete() is not streamed: the whole reply arrives at once.
        time_to_first_token_ms=timed.duration_ms,
        duration_ms=timed.duration_ms,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        finish_reason=timed.result.finish_reason or "",
        attempts=timed.attempts,
        extra=extra,
    )


async def ask_item(
    ctx: RunContext,
    client: OpenAICompatibleClient,
    pk: int,
    messages: list[dict],
    stop: threading.Event,
) -> ItemResult:
    """One item's model request with the run's retries: its result, failed (with the
    error's summary) rather than raised when the model fails."""
    try:
        timed = await complete_with_retries(
            client,
            messages,
            ctx.params,
            attempts=ctx.attempts,
            base_delay_s=ctx.retry_base_s,
            stop=stop,
        )
    except LLMError as exc:
        return ItemResult(pk=pk, ok=False, error=exc.summary()[:200], prompt=messages)
    return result_from(pk, messages, timed)


UnitFn = Callable[[Any, threading.Event], AsyncIterator[ItemResult]]


def run_units(
    units: Sequence[Any],
    unit_fn: UnitFn,
    *,
    concurrency: int,
    on_result: Callable[[ItemResult], None],
    on_unit_crash: Callable[[Any, str], None],
    should_stop: Callable[[], bool],
    poll_s: float = 0.5,
) -> bool:
    """Run the units; returns False when should_stop() ended the work early.

    The units run in an event loop on a helper thread, entered with async_to_sync: every
    thread-sensitive database call (a unit's own writes through database_sync_to_async,
    as a simulated participant's chat makes them; on_result; on_unit_crash; the stop
    check) runs in this, the calling thread, one at a time. One connection does all the
    writing, inside the caller's transaction in tests, and SQLite never sees two writers.

    Whatever the writing thread raises (an error storing a result, Celery's soft time
    limit arriving while it stores) stops the work and is raised here once the loop has
    ended; nothing more is stored after it, so items not yet stored stay pending. An
    exception that arrives while this thread waits on the loop stops new requests too.
    """
    stop = threading.Event()
    stopped = False
    fatal: list[BaseException] = []

    def guarded(fn: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            if fatal:
                return  # after a failure in this thread nothing more is stored
            try:
                fn(*args)
            except BaseException as exc:
                fatal.append(exc)
                stop.set()

        return call

    store = sync_to_async(guarded(on_result), thread_sensitive=True)
    crashed = sync_to_async(guarded(on_unit_crash), thread_sensitive=True)
    check = sync_to_async(should_stop, thread_sensitive=True)

    async def main() -> None:
        nonlocal stopped
        # Units of this chunk at once; requests per endpoint, all workers: slots.
        semaphore = asyncio.Semaphore(max(1, concurrency))

        async def one(unit: Any) -> None:
            async with semaphore:
                if stop.is_set():
                    return
                try:
                    async for result in unit_fn(unit, stop):
                        await store(result)
                except slots.SlotWaitStopped:
                    return  # stopped while waiting: the unit's items stay pending
                except Exception as exc:
                    if stop.is_set():
                        return  # stopping: its items stay pending for the next delivery
                    logger.exception("evaluations: a unit crashed")
                    await crashed(unit, f"internal: {type(exc).__name__}")

        async def watch() -> None:
            nonlocal stopped
            while not stop.is_set():
                await asyncio.sleep(poll_s)
                if not stop.is_set() and await check():
                    stopped = True
                    stop.set()

        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.gather(*(one(unit) for unit in units))
        finally:
            watcher.cancel()
            await slots.close()

    try:
        async_to_sync(main)()
    except BaseException:
        stop.set()
        raise
    if fatal:
        raise fatal[0]
    if not stopped and should_stop():
        stopped = True
    return not stopped
