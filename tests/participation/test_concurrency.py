"""Real races on PostgreSQL: requests that arrive together must not duplicate anything.

Each test holds a row lock (or an uncommitted row) in one thread, waits until the
racing threads are visibly blocked on it in pg_stat_activity, then lets go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from studyapp.participation.models import Answer, Participant, Task
from studyapp.participation.prolific import ProlificParams
from studyapp.participation.services import (
    answer_submit,
    participant_consent,
    participant_enter,
    participant_read_instructions,
    task_save_sources,
)
from tests.conftest import require
from tests.factories import make_control_arm, make_participant, make_scenario, make_study

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PID = "60a1b2c3d4e5f6a7b8c9d0e1"


@pytest.fixture
def study():
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
    study = make_study("race")
    for key in ("one", "two", "three"):
        make_scenario(study, key)
    make_control_arm(study, key="a")
    make_control_arm(study, key="b")
    return study


def _in_thread(fn: Callable[[], object], results: list, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            results.append(fn())
        except Exception as exc:  # the test asserts there were none
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_for_lock_waiters(count: int) -> None:
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.02)
    raise AssertionError(f"{count} blocked queries never appeared")


def _holding(setup: Callable[[], None], racers: list[Callable[[], object]]):
    """Run `setup` in an open transaction, race `racers` against it, then commit."""
    ready, release = threading.Event(), threading.Event()
    holder_errors: list = []

    def hold() -> None:
        try:
            with transaction.atomic():
                setup()
                ready.set()
                release.wait(10)
        except Exception as exc:
            holder_errors.append(exc)
            ready.set()
        finally:
            connection.close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert ready.wait(10)
    results: list = []
    errors: list = []
    threads = [_in_thread(racer, results, errors) for racer in racers]
    _wait_for_lock_waiters(len(racers))
    release.set()
    for thread in [holder, *threads]:
        thread.join(10)
    assert holder_errors == []
    assert errors == []
    return results


def test_a_pid_entering_twice_at_once_gets_one_participant(study):
    params = ProlificParams(pid=PID)
    results = _holding(
        lambda: Participant.objects.create(study=study, prolific_pid=PID),
        [lambda: participant_enter(study=study, params=params)],
    )
    assert Participant.objects.filter(study=study).count() == 1
    assert results[0].pk == Participant.objects.get(study=study).pk


def test_two_consents_at_once_allocate_once(study):
    participant = make_participant(study)

    def lock() -> None:
        Participant.objects.select_for_update().get(pk=participant.pk)

    consent = lambda: participant_consent(participant_id=participant.pk)  # noqa: E731
    results = _holding(lock, [consent, consent])
    assert results[0].arm_id == results[1].arm_id
    assert Task.objects.filter(participant=participant).count() == 2


def test_two_answers_at_once_store_one(study):
    participant = make_participant(study)
    participant_consent(participant_id=participant.pk)
    participant_read_instructions(participant_id=participant.pk)
    task_save_sources(participant_id=participant.pk, position=1, sources_text="NHS")
    level = study.disposition_scale.levels.get(code="ae")

    def lock() -> None:
        Participant.objects.select_for_update().get(pk=participant.pk)

    def submit() -> Answer:
        return answer_submit(
            participant_id=participant.pk,
            position=1,
            disposition_id=level.pk,
            conditions_text="appendicitis",
            confidence=50,
        )

    results = _holding(lock, [submit, submit])
    assert results[0].pk == results[1].pk
    assert Answer.objects.filter(task__participant=participant).count() == 1
    assert Task.objects.get(participant=participant, position=2).status == Task.Status.ACTIVE
