"""A real Celery worker, killed mid-run: the run resumes and ends with every item stored
exactly once. On Redis the broker redelivers the chunk; on the embedded filesystem broker,
which never redelivers, the periodic sweep finds the dead worker's chunk and queues it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from studyapp.celery import app as celery_app
from studyapp.devtools.scripted_server import ScriptedConfig, ScriptedServerThread
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.conftest import require
from tests.evaluations.runs.conftest import write_questions
from tests.factories import make_endpoint, make_llm_arm, make_study

REPO = Path(__file__).resolve().parents[3]


def start_worker(
    tmp_path: Path, name: str, env: dict | None = None, args: tuple = ()
) -> subprocess.Popen:
    db = connection.settings_dict
    env = (
        os.environ
        | {
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            # Redelivery of the killed worker's unacknowledged chunk, soon.
            "CELERY_VISIBILITY_TIMEOUT": "2",
            # A dead worker's claim expires soon, so the redelivery can take it over.
            "EVALUATION_CHUNK_LEASE_S": "2",
            "EVALUATION_POLL_S": "0.1",
            "EVALUATION_CONCURRENCY": "2",
        }
        | (env or {})
    )
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "studyapp", "worker",
            "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"{name}@%h", "--loglevel=INFO", *args,
        ],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


QUESTIONS = 30


@pytest.fixture
def mcq_server(tmp_path):
    """A scripted model that knows the answers to QUESTIONS questions, slow enough to
    kill a worker part-way; yields the server and the questions' path."""
    path = tmp_path / "q.jsonl"
    key = write_questions(path, QUESTIONS)
    server = ScriptedServerThread(
        ScriptedConfig(mode="mcq", mcq_answer_key=key, ttft_s=0.15, token_delay_s=0.0)
    ).start()
    yield server, path
    server.stop()


@pytest.fixture
def workers():
    """The test's worker processes; those still alive are stopped afterwards."""
    started: list[subprocess.Popen] = []
    yield started
    for worker in started:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(10)


def mcq_run(name: str, server, path: Path, *, chunk_units: int, enqueue: bool) -> EvaluationRun:
    study = make_study(name)
    arm = make_llm_arm(study, make_endpoint(server.base_url), key="gpt")
    return evaluation_start(
        study=study,
        request=StartRequest(
            kind="mcq", arm_key=arm.key, items_path=path, chunk_units=chunk_units
        ),
        enqueue=enqueue,
    )


def kill_once_it_has_stored_some(worker: subprocess.Popen, run: EvaluationRun) -> None:
    stored = run.items.filter(status=EvaluationItem.Status.SUCCEEDED)
    wait_for(lambda: stored.count() >= 4, 60, "the first worker to store some items")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert stored.count() < QUESTIONS


def assert_every_item_stored_once(run: EvaluationRun, server) -> None:
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert (run.items_total, run.items_done, run.items_failed) == (QUESTIONS, QUESTIONS, 0)
    keys = list(run.items.values_list("item_key", "repetition", "turn"))
    assert len(keys) == len(set(keys)) == QUESTIONS
    assert all(item.correct for item in run.items.all())
    # The second worker asked only what the first had not stored (plus, at most, the
    # requests that were in flight when it died).
    assert QUESTIONS <= server.stats()["count"] <= QUESTIONS + 2


def test_a_killed_worker_loses_and_duplicates_nothing(
    transactional_db, tmp_path, mcq_server, workers
):
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL)")
    require(bool(settings.REDIS_URL), "needs Redis (REDIS_URL)")
    server, path = mcq_server
    celery_app.connection_for_write().default_channel.queue_purge("celery")
    run = mcq_run("worker-study", server, path, chunk_units=10, enqueue=True)

    workers.append(start_worker(tmp_path, "first"))
    kill_once_it_has_stored_some(workers[0], run)
    workers.append(start_worker(tmp_path, "second"))
    wait_for(lambda: EvaluationRun.objects.get(pk=run.pk).is_finished, 90, "the run to finish")

    assert_every_item_stored_once(run, server)


def filesystem_broker(run_dir: Path) -> Celery:
    """A client of the embedded filesystem broker in run_dir (what make run uses)."""
    folders = {
        "data_folder_in": str(run_dir / "celery-broker"),
        "data_folder_out": str(run_dir / "celery-broker"),
        "processed_folder": str(run_dir / "celery-processed"),
        "control_folder": str(run_dir / "celery-control"),
        "store_processed": False,
    }
    for folder in ("celery-broker", "celery-processed", "celery-control"):
        (run_dir / folder).mkdir(parents=True, exist_ok=True)
    return Celery("filesystem-client", broker="filesystem://", broker_transport_options=folders)


def test_on_the_filesystem_broker_the_sweep_brings_a_killed_workers_chunk_back(
    transactional_db, tmp_path, mcq_server, workers
):
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL)")
    server, path = mcq_server
    run_dir = tmp_path / "run"
    embedded = {"REDIS_URL": "", "STUDYAPP_RUN_DIR": str(run_dir)}
    run = mcq_run("fs-worker-study", server, path, chunk_units=QUESTIONS, enqueue=False)
    (first, last) = run.chunks.values_list("first_item_id", "last_item_id").get()
    client = filesystem_broker(run_dir)
    client.send_task(
        "studyapp.evaluations.tasks.evaluation_chunk_task", args=(run.pk, first, last)
    )

    workers.append(start_worker(tmp_path, "first", embedded))
    kill_once_it_has_stored_some(workers[0], run)
    assert run.chunks.get().status == "running"
    # Nothing redelivers the message: only the beat's sweep (every second here) can
    # find the chunk, once the dead worker's 2 s claim has expired.
    sweeping = embedded | {"EVALUATION_SWEEP_S": "1"}
    beat = ("--beat", "--schedule", str(tmp_path / "celerybeat-schedule"))
    workers.append(start_worker(tmp_path, "second", sweeping, beat))
    wait_for(lambda: EvaluationRun.objects.get(pk=run.pk).is_finished, 90, "the run to finish")

    assert_every_item_stored_once(run, server)
    chunk = run.chunks.get()
    assert (chunk.status, chunk.attempts) == ("done", 2)
