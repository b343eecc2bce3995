"""Slots: a bound on evaluation requests in flight to one endpoint, all workers together.

Each Celery worker runs its chunks in event loops of its own, so a bound kept in a process
(a semaphore) multiplies by the number of workers. ``ModelEndpoint.evaluation_concurrency``
is instead a number of *slots* shared by every process: a request of an evaluation job holds
one for its duration (one model request, never a backoff sleep or a whole unit), and waits,
polling with a jittered sleep, while all are taken. Participants' chats never take a slot:
they are bounded per process by ``max_concurrent_streams`` alone.

Two backends, chosen from the settings:

- ``REDIS_URL`` set: a sorted set per endpoint in Redis; members are random tokens, scores
  the expiry of their lease (the Redis server's clock, so workers on several machines
  agree). A Lua script drops expired members and adds one if fewer than the limit remain;
  a holder renews its lease every third of ``EVALUATION_SLOT_LEASE_S`` while its request
  runs, so a crashed holder's slot frees itself one lease after its last renewal.
- otherwise (the embedded default, one machine): ``limit`` lock files per endpoint under
  ``EVALUATION_SLOT_DIR``, taken with ``flock(LOCK_EX | LOCK_NB)``; the kernel drops the
  lock of a killed process at once. A limit lowered while slots above it are held applies
  once those requests end (Redis applies it at once: it counts members).

Slots are keyed by endpoint id and by database name (endpoint ids belong to a database: a
test database and a development one, sharing a Redis, must not share slots).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import random
import secrets
import threading
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "studyapp:evaluation-slots"

# KEYS[1] the endpoint's set; ARGV: token, limit, lease (ms). 1 when the slot was taken.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
return 1
"""

# KEYS[1] the endpoint's set; ARGV: token, lease (ms). 0 when the lease had already run out.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) < now then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
"""


class SlotWaitStopped(Exception):
    """The job was stopped (cancelled, out of time) while its request waited for a slot.

    The engine ends the unit quietly: its items stay pending, as for any stopped job.
    """


class Backend(Protocol):
    # Errors that mean "the shared store is unreachable for now" (Redis restarting): the
    # request waits as if every slot were taken, instead of failing its items.
    transient: tuple[type[BaseException], ...]

    async def try_acquire(self, endpoint_id: int, limit: int) -> Any | None: ...

    async def release(self, held: Any) -> None: ...

    async def close(self) -> None: ...


@dataclass
class RedisHeld:
    key: str
    token: str
    renewal: asyncio.Task | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _RedisConnection:
    client: Any
    acquire: Any
    renew: Any


class RedisSlots:
    """Slots in a Redis sorted set per endpoint, shared by every process and machine."""

    def __init__(self, url: str, *, namespace: str, lease_s: float) -> None:
        import redis.exceptions

        self.transient = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self.url = url
        self.namespace = namespace
        self.lease_ms = max(1, round(lease_s * 1000))
        # A redis.asyncio client is bound to the loop that made it: one per event loop.
        self._connections: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, _RedisConnection
        ] = weakref.WeakKeyDictionary()

    def key(self, endpoint_id: int) -> str:
        return f"{KEY_PREFIX}:{self.namespace}:{endpoint_id}"

    def _connection(self) -> _RedisConnection:
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        made = self._connections.get(loop)
        if made is None:
            client = redis.Redis.from_url(self.url)
            made = _RedisConnection(
                client, client.register_script(_ACQUIRE), client.register_script(_RENEW)
            )
            self._connections[loop] = made
        return made

    async def try_acquire(self, endpoint_id: int, limit: int) -> RedisHeld | None:
        held = RedisHeld(key=self.key(endpoint_id), token=secrets.token_hex(16))
        acquire = self._connection().acquire
        if not await acquire(keys=[held.key], args=[held.token, limit, self.lease_ms]):
            return None
        held.renewal = asyncio.create_task(self._renew(held))
        return held

    async def _renew(self, held: RedisHeld) -> None:
        """Keep the lease while the request runs; a lost lease is logged, not fatal."""
        renew = self._connection().renew
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                kept = await renew(keys=[held.key], args=[held.token, self.lease_ms])
            except Exception as exc:  # the next renewal may get through
                logger.warning("evaluations: slot lease renewal failed (%s)", type(exc).__name__)
                continue
            if not kept:
                logger.warning("evaluations: slot lease of %s ran out while held", held.key)
                return

    async def release(self, held: RedisHeld) -> None:
        if held.renewal is not None:
            held.renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await held.renewal
        # If this fails (Redis gone, a second cancellation), the lease frees the slot.
        await self._connection().client.zrem(held.key, held.token)

    async def close(self) -> None:
        """Close this event loop's connections (the engine's loops end with their chunk)."""
        made = self._connections.pop(asyncio.get_running_loop(), None)
        if made is not None:
            await made.client.aclose()


class FileSlots:
    """Slots as lock files on one machine: slot i of an endpoint is ``endpoint-N/slot-i``.

    flock with LOCK_NB never blocks the event loop, and two open files of one process
    conflict as two processes do, so the units of one loop share the slots correctly.
    """

    transient: tuple[type[BaseException], ...] = ()

    def __init__(self, directory: Path, *, namespace: str) -> None:
        self.directory = Path(directory) / namespace

    def folder(self, endpoint_id: int) -> Path:
        return self.directory / f"endpoint-{endpoint_id}"

    async def try_acquire(self, endpoint_id: int, limit: int) -> int | None:
        folder = self.folder(endpoint_id)
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(limit):
            fd = os.open(folder / f"slot-{index}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        return None

    async def release(self, held: int) -> None:
        os.close(held)  # closing the file drops its lock

    async def close(self) -> None:
        return None


def namespace() -> str:
    """A short name for this database (endpoint ids are only unique within one)."""
    # The settings' dict is the connections' own: under tests it names the test database.
    name = str(settings.DATABASES["default"]["NAME"])
    return hashlib.sha256(name.encode()).hexdigest()[:12]


@functools.cache
def _backend_for(redis_url: str, lease_s: float, directory: str, scope: str) -> Backend:
    if redis_url:
        return RedisSlots(redis_url, namespace=scope, lease_s=lease_s)
    return FileSlots(Path(directory), namespace=scope)


def backend() -> Backend:
    """Redis when REDIS_URL is set, lock files otherwise; made once per process (per
    distinct settings, so a test may point it elsewhere)."""
    return _backend_for(
        settings.REDIS_URL,
        settings.EVALUATION_SLOT_LEASE_S,
        str(settings.EVALUATION_SLOT_DIR),
        namespace(),
    )


@contextlib.asynccontextmanager
async def evaluation_slot(
    endpoint_id: int, limit: int, *, stop: threading.Event | None = None
) -> AsyncIterator[None]:
    """Hold one of ``limit`` slots of the endpoint for one model request.

    Waits while all are taken; raises SlotWaitStopped if ``stop`` is set meanwhile.
    """
    slots = backend()
    limit = max(1, limit)
    poll_s = settings.EVALUATION_SLOT_POLL_S
    unreachable_since: float | None = None
    while (held := await _try_acquire(slots, endpoint_id, limit)) is None or held is _UNREACHABLE:
        if stop is not None and stop.is_set():
            raise SlotWaitStopped
        delay = poll_s
        if held is _UNREACHABLE:
            now = time.monotonic()
            if unreachable_since is None:
                unreachable_since = now
                logger.warning("evaluations: slot store unreachable; requests wait for it")
            # Back off while the store is down: up to 2 s between tries.
            delay = min(2.0, max(poll_s, (now - unreachable_since) / 4))
        await asyncio.sleep(delay * (0.5 + random.random()))
    try:
        yield
    finally:
        try:
            await slots.release(held)
        except slots.transient as exc:
            # The request's result stands; the lease frees the slot by itself.
            logger.warning("evaluations: slot release failed (%s)", type(exc).__name__)


_UNREACHABLE: Any = object()  # "no slot", because the store did not answer


async def _try_acquire(slots: Backend, endpoint_id: int, limit: int) -> Any | None:
    try:
        return await slots.try_acquire(endpoint_id, limit)
    except slots.transient:
        return _UNREACHABLE


async def close() -> None:
    """Close the slots' connections of this event loop (call as the loop's work ends)."""
    await backend().close()
