"""A Redis broker that loses its data (restarted without persistence) loses the queued
chunk messages with it: the sweep notices (its marker key is gone) and sends every chunk
still queued again at once, instead of waiting EVALUATION_STALL_S (15 minutes).

Each test has a Redis server of its own on a free port (never the shared one, which
other tests use), restarted for real. The queue is mocked (sweeper.chunks_enqueue), as in the
other sweep tests; the marker lives in that private Redis.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from bench.common import free_port
from studyapp.evaluations import tasks
from studyapp.evaluations.models import EvaluationChunk, EvaluationRun
from studyapp.evaluations.runtime import sweep as sweeper
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.conftest import require
from tests.evaluations.runs.conftest import write_questions


class PrivateRedis:
    """redis-server on a free port, with no persistence: a restart empties it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(self.url).ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def broker():
    require(shutil.which("redis-server") is not None, "needs redis-server on PATH")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sent(monkeypatch):
    """What the sweep sends to the queue: [(run id, [(first, last), ...]), ...]."""
    calls: list[tuple[int, list[tuple[int, int]]]] = []
    monkeypatch.setattr(
        sweeper, "chunks_enqueue", lambda run_id, chunks: calls.append((run_id, list(chunks)))
    )
    return calls


@pytest.fixture
def run(study_with_arm, tmp_path):
    """A running MCQ run of two chunks, both queued (their messages are in the broker)."""
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 6)
    run = evaluation_start(
        study=study,
        request=StartRequest(kind="mcq", items_path=path, chunk_units=3),
        enqueue=False,
    )
    EvaluationRun.objects.filter(pk=run.pk).update(status="running")
    return run


def chunk_ranges(run) -> list[tuple[int, int]]:
    return list(run.chunks.order_by("first_item_id").values_list("first_item_id", "last_item_id"))


def sweep(capture, *, broker_url: str, now=None) -> int:
    with capture(execute=True):
        return sweeper.evaluations_resume_stalled(broker_url=broker_url, now=now)


def test_after_the_broker_lost_its_data_every_queued_chunk_is_sent_again_at_once(
    run, broker, sent, django_capture_on_commit_callbacks
):
    # The first sweep on this Redis finds no marker yet: it sends the queue again (harmless).
    assert sweep(django_capture_on_commit_callbacks, broker_url=broker.url) == 1
    sent.clear()
    # A minute later nothing has changed: nothing is sent.
    assert sweep(django_capture_on_commit_callbacks, broker_url=broker.url) == 0
    assert sent == []

    broker.restart()  # the queued messages are gone with the data
    before = timezone.now()
    assert sweep(django_capture_on_commit_callbacks, broker_url=broker.url) == 1

    assert sent == [(run.pk, chunk_ranges(run))]
    assert set(run.chunks.values_list("status", flat=True)) == {EvaluationChunk.Status.QUEUED}
    assert all(queued_at >= before for queued_at in run.chunks.values_list("queued_at", flat=True))
    # And once only: the marker is back.
    sent.clear()
    assert sweep(django_capture_on_commit_callbacks, broker_url=broker.url) == 0
    assert sent == []


def test_while_the_marker_is_there_a_queued_chunk_waits_for_the_stall_time(
    run, broker, sent, settings, django_capture_on_commit_callbacks
):
    settings.EVALUATION_STALL_S = 900
    sweep(django_capture_on_commit_callbacks, broker_url=broker.url)  # sets the marker
    sent.clear()
    queued = run.chunks.first().queued_at

    almost = queued + timedelta(seconds=899)
    assert sweep(django_capture_on_commit_callbacks, broker_url=broker.url, now=almost) == 0
    assert sent == []
    later = queued + timedelta(seconds=901)
    assert sweep(django_capture_on_commit_callbacks, broker_url=broker.url, now=later) == 1
    assert sent == [(run.pk, chunk_ranges(run))]


def test_a_chunk_a_live_worker_holds_is_not_sent_again(
    run, broker, sent, django_capture_on_commit_callbacks
):
    from studyapp.evaluations.runtime import chunks

    first, _ = chunk_ranges(run)[0]
    chunks.chunk_claim(run_id=run.pk, first_id=first, worker="alive")

    assert sweep(django_capture_on_commit_callbacks, broker_url=broker.url) == 1
    assert sent == [(run.pk, chunk_ranges(run)[1:])]


def test_the_beats_sweep_asks_the_brokers_redis(
    run, broker, sent, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_BROKER_URL = broker.url
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.resume_stalled_evaluations_task.run() == 1
    assert sent == [(run.pk, chunk_ranges(run))]


def test_a_broker_that_is_not_redis_keeps_its_messages(
    run, sent, django_capture_on_commit_callbacks
):
    assert sweep(django_capture_on_commit_callbacks, broker_url="filesystem://") == 0
    assert sent == []


def test_an_unreachable_redis_sends_nothing_and_fails_nothing(
    run, sent, django_capture_on_commit_callbacks
):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    assert sweep(django_capture_on_commit_callbacks, broker_url=closed) == 0
    assert sent == []
