"""Evaluation slots (studyapp.evaluations.runtime.slots), on both backends: lock files and Redis.

Real files and a real Redis; crash recovery kills a real process that holds a slot.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis

from studyapp.evaluations.runtime import slots
from studyapp.evaluations.runtime.slots import (
    FileSlots,
    RedisSlots,
    SlotWaitStopped,
    evaluation_slot,
)
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]
ENDPOINT = 7


def redis_url(settings) -> str:
    require(bool(settings.REDIS_URL), "needs Redis (REDIS_URL)")
    return settings.REDIS_URL


@pytest.fixture
def test_namespace(settings):
    """A namespace of this test's own; its Redis keys are deleted afterwards."""
    name = f"test-{secrets.token_hex(6)}"
    yield name
    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(f"{slots.KEY_PREFIX}:{name}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(params=["file", "redis"])
async def backend(request, settings, tmp_path, test_namespace):
    if request.param == "file":
        made = FileSlots(tmp_path, namespace=test_namespace)
    else:
        made = RedisSlots(redis_url(settings), namespace=test_namespace, lease_s=30)
    yield made
    await made.close()


@pytest.fixture(params=["file", "redis"])
def endpoint(request, settings, tmp_path):
    """The settings choose this backend for evaluation_slot(); an endpoint id no real
    endpoint has (the slots are in the test database's namespace)."""
    settings.EVALUATION_SLOT_POLL_S = 0.02
    if request.param == "file":
        settings.REDIS_URL = ""
        settings.EVALUATION_SLOT_DIR = tmp_path / "slots"
    else:
        redis_url(settings)
    endpoint_id = 10**12 + secrets.randbelow(10**9)
    yield endpoint_id
    if request.param == "redis":
        client = redis.Redis.from_url(settings.REDIS_URL)
        client.delete(slots.backend().key(endpoint_id))
        client.close()


async def hold(backend, count: int, *, limit: int, endpoint: int = ENDPOINT) -> list:
    held = [await backend.try_acquire(endpoint, limit) for _ in range(count)]
    assert None not in held
    return held


async def acquire_within(backend, seconds: float):
    """The one slot of ENDPOINT, once its lease has run out."""
    async with asyncio.timeout(seconds):
        while (got := await backend.try_acquire(ENDPOINT, 1)) is None:  # noqa: ASYNC110 (Redis's clock frees it: no Event to await)
            await asyncio.sleep(0.05)
    return got


async def test_it_gives_at_most_limit_slots(backend):
    held = await hold(backend, 3, limit=3)
    assert await backend.try_acquire(ENDPOINT, 3) is None

    await backend.release(held.pop())
    again = await backend.try_acquire(ENDPOINT, 3)
    assert again is not None
    assert await backend.try_acquire(ENDPOINT, 3) is None
    for each in [*held, again]:
        await backend.release(each)


async def test_each_endpoint_has_its_own_slots(backend):
    held = await hold(backend, 2, limit=2, endpoint=1)
    other = await backend.try_acquire(2, 2)
    assert other is not None
    for each in [*held, other]:
        await backend.release(each)


async def test_a_raised_limit_gives_more_slots_at_once(backend):
    held = await hold(backend, 3, limit=3)
    assert await backend.try_acquire(ENDPOINT, 3) is None
    more = await backend.try_acquire(ENDPOINT, 4)
    assert more is not None
    for each in [*held, more]:
        await backend.release(each)


async def test_a_lowered_limit_gives_no_slot_until_enough_are_released(backend):
    first, second, third = await hold(backend, 3, limit=3)
    await backend.release(third)
    assert await backend.try_acquire(ENDPOINT, 2) is None

    await backend.release(first)
    got = await backend.try_acquire(ENDPOINT, 2)
    assert got is not None
    for each in (second, got):
        await backend.release(each)


async def test_a_redis_slot_is_kept_while_held_past_its_lease(settings, test_namespace):
    backend = RedisSlots(redis_url(settings), namespace=test_namespace, lease_s=0.6)
    held = await backend.try_acquire(ENDPOINT, 1)
    assert held is not None
    # Held for over three leases: the renewals keep it.
    for _ in range(6):
        await asyncio.sleep(0.35)
        assert await backend.try_acquire(ENDPOINT, 1) is None

    await backend.release(held)
    assert held.renewal is not None and held.renewal.done()
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.zcard(backend.key(ENDPOINT)) == 0
    client.close()
    got = await backend.try_acquire(ENDPOINT, 1)
    assert got is not None
    await backend.release(got)
    await backend.close()


async def test_a_redis_slot_no_longer_renewed_frees_itself_after_its_lease(
    settings, test_namespace
):
    backend = RedisSlots(redis_url(settings), namespace=test_namespace, lease_s=1.0)
    held = await backend.try_acquire(ENDPOINT, 1)
    assert held is not None
    held.renewal.cancel()  # as if its holder hung
    assert await backend.try_acquire(ENDPOINT, 1) is None

    got = await acquire_within(backend, 10)
    await backend.release(got)
    await backend.close()


async def test_evaluation_slot_waits_while_all_are_taken(endpoint):
    release_first = asyncio.Event()
    first_in = asyncio.Event()
    entered: list[str] = []

    async def request(name: str, until: asyncio.Event | None = None) -> None:
        async with evaluation_slot(endpoint, 1):
            entered.append(name)
            first_in.set()
            if until is not None:
                await until.wait()

    first = asyncio.create_task(request("first", release_first))
    async with asyncio.timeout(5):
        await first_in.wait()
    second = asyncio.create_task(request("second"))
    await asyncio.sleep(0.3)  # the second polls a few times meanwhile
    assert entered == ["first"]

    release_first.set()
    async with asyncio.timeout(5):
        await asyncio.gather(first, second)
    assert entered == ["first", "second"]
    await slots.close()


async def test_a_slot_is_given_back_when_its_request_fails(endpoint):
    with pytest.raises(RuntimeError):
        async with evaluation_slot(endpoint, 1):
            raise RuntimeError("the request failed")
    async with asyncio.timeout(5), evaluation_slot(endpoint, 1):
        pass
    await slots.close()


async def test_a_stopped_job_stops_waiting(endpoint):
    stop = threading.Event()
    holding = asyncio.Event()
    done = asyncio.Event()

    async def holder() -> None:
        async with evaluation_slot(endpoint, 1):
            holding.set()
            await done.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    waiter = asyncio.create_task(_enter(endpoint, stop))
    await asyncio.sleep(0.1)
    assert not waiter.done()

    stop.set()
    with pytest.raises(SlotWaitStopped):
        async with asyncio.timeout(5):
            await waiter
    done.set()
    await task
    await slots.close()


async def _enter(endpoint: int, stop: threading.Event) -> None:
    async with evaluation_slot(endpoint, 1, stop=stop):
        raise AssertionError("entered a slot that was taken")


def test_the_settings_choose_redis_or_lock_files(settings, tmp_path):
    settings.REDIS_URL = ""
    settings.EVALUATION_SLOT_DIR = tmp_path
    assert isinstance(slots.backend(), FileSlots)
    assert slots.backend() is slots.backend()
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    assert isinstance(slots.backend(), RedisSlots)


# --- a holder killed while it holds its slot -------------------------------------------

HOLDER = """
import asyncio, sys
from pathlib import Path
from studyapp.evaluations.runtime.slots import FileSlots, RedisSlots

async def main():
    kind, where, namespace, lease_s = sys.argv[1:5]
    if kind == "redis":
        backend = RedisSlots(where, namespace=namespace, lease_s=float(lease_s))
    else:
        backend = FileSlots(Path(where), namespace=namespace)
    held = await backend.try_acquire(int(sys.argv[5]), 1)
    print("held" if held is not None else "full", flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def start_holder(kind: str, where: str, namespace: str, lease_s: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, where, namespace, str(lease_s), str(ENDPOINT)],
        cwd=REPO,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "studyapp.settings"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


async def test_a_killed_holders_file_slot_is_free_at_once(tmp_path, test_namespace):
    backend = FileSlots(tmp_path, namespace=test_namespace)
    holder = start_holder("file", str(tmp_path), test_namespace, 0)
    try:
        assert await backend.try_acquire(ENDPOINT, 1) is None
    finally:
        kill(holder)
    got = await backend.try_acquire(ENDPOINT, 1)
    assert got is not None
    await backend.release(got)


async def test_a_killed_holders_redis_slot_is_free_after_its_lease_not_before(
    settings, test_namespace
):
    lease_s = 3.0
    backend = RedisSlots(redis_url(settings), namespace=test_namespace, lease_s=lease_s)
    holder = start_holder("redis", settings.REDIS_URL, test_namespace, lease_s)
    try:
        assert await backend.try_acquire(ENDPOINT, 1) is None
    finally:
        kill(holder)
    # Renewed every lease / 3: at least two thirds of a lease are left.
    assert await backend.try_acquire(ENDPOINT, 1) is None

    got = await acquire_within(backend, lease_s + 10)
    await backend.release(got)
    await backend.close()


async def test_a_request_waits_while_redis_is_down_and_goes_on_when_it_is_back(settings, tmp_path):
    """Redis restarting must not fail a job's items: the request waits for it."""
    import shutil
    import socket

    require(shutil.which("redis-server") is not None, "needs the redis-server binary")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    settings.EVALUATION_SLOT_POLL_S = 0.02
    server: subprocess.Popen | None = None

    def start_redis() -> None:
        nonlocal server
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
        )

    # Nothing listens yet: a stopped waiter gives up cleanly, with no connection error.
    stop = threading.Event()
    asyncio.get_running_loop().call_later(0.3, stop.set)
    with pytest.raises(SlotWaitStopped):
        async with evaluation_slot(ENDPOINT, 1, stop=stop):
            pass

    asyncio.get_running_loop().call_later(0.3, start_redis)
    try:
        async with asyncio.timeout(30):
            async with evaluation_slot(ENDPOINT, 1):
                client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
                held = await client.zcard(slots.backend().key(ENDPOINT))
                await client.aclose()
        assert server is not None and held == 1
        await slots.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
