"""The one runner of evaluation units (evaluations.runtime.engine.run_units)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from channels.db import database_sync_to_async

from studyapp.evaluations.runtime.engine import ItemResult, run_units


def _unexpected_crash(unit, error: str) -> None:
    raise AssertionError(f"unit {unit} crashed: {error}")


def run(units, unit_fn, *, on_result, on_unit_crash=None, should_stop=None, concurrency=2):
    return run_units(
        units,
        unit_fn,
        concurrency=concurrency,
        on_result=on_result,
        # A crash a test did not ask for fails it (it used to pass silently).
        on_unit_crash=on_unit_crash or _unexpected_crash,
        should_stop=should_stop or (lambda: False),
        poll_s=0.01,
    )


# database_sync_to_async closes stale connections around each call: after another test
# opened one, that is database access, which pytest-django allows only when marked.
@pytest.mark.django_db
def test_every_write_runs_in_the_calling_thread():
    caller = threading.get_ident()
    seen: list[tuple[str, int]] = []

    def write(pk: int) -> int:
        seen.append(("unit wrote", threading.get_ident()))
        return pk

    async def unit_fn(unit, stop):
        for pk in unit:
            # A unit writing through database_sync_to_async (as a simulated chat does).
            await database_sync_to_async(write)(pk)
            yield ItemResult(pk=pk, ok=True)

    def on_result(result: ItemResult) -> None:
        seen.append(("stored", threading.get_ident()))

    assert run([[1, 2], [3]], unit_fn, on_result=on_result) is True
    assert len(seen) == 6
    assert {ident for _, ident in seen} == {caller}


def test_a_failure_while_storing_stops_the_run_and_is_raised_with_nothing_stored_after():
    stored: list[int] = []
    asked: list[int] = []

    async def unit_fn(unit, stop):
        for pk in unit:
            if stop.is_set():
                return
            asked.append(pk)
            await asyncio.sleep(0.01)
            yield ItemResult(pk=pk, ok=True)

    def on_result(result: ItemResult) -> None:
        if result.pk == 2:
            # Celery's soft time limit, arriving while the result is stored.
            raise SoftTimeLimitExceeded()
        stored.append(result.pk)

    units = [[1, 2, 3, 4, 5, 6]]
    with pytest.raises(SoftTimeLimitExceeded):
        run(units, unit_fn, on_result=on_result, concurrency=1)
    assert stored == [1]
    # The unit saw the stop and asked nothing more (items 3.. stay pending).
    assert asked == [1, 2]


def test_a_crashed_unit_is_reported_and_the_others_go_on():
    stored: list[int] = []
    crashed: list[tuple[list[int], str]] = []

    async def unit_fn(unit, stop):
        for pk in unit:
            if pk == 2:
                raise KeyError("a bug")
            yield ItemResult(pk=pk, ok=True)

    result = run(
        [[1, 2], [3]],
        unit_fn,
        on_result=lambda r: stored.append(r.pk),
        on_unit_crash=lambda unit, error: crashed.append((unit, error)),
    )
    assert result is True
    assert sorted(stored) == [1, 3]
    assert crashed == [([1, 2], "internal: KeyError")]


def test_should_stop_ends_the_work_early_and_says_so():
    stored: list[int] = []
    release = threading.Event()

    async def unit_fn(unit, stop):
        for pk in unit:
            if stop.is_set():
                return
            yield ItemResult(pk=pk, ok=True)
            await asyncio.sleep(0.02)

    def on_result(result: ItemResult) -> None:
        stored.append(result.pk)
        if result.pk == 2:
            release.set()

    finished = run(
        [[i] for i in range(1, 50)],
        unit_fn,
        on_result=on_result,
        should_stop=release.is_set,
        concurrency=1,
    )
    assert finished is False
    assert 2 <= len(stored) < 49
