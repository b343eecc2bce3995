"""Evaluation requests to an endpoint are bounded by its evaluation_concurrency across
processes: two OS processes run chunks of one run at once against the scripted server,
whose peak of requests in flight is the bound (on Redis and on lock files)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from studyapp.devtools.scripted_server import ScriptedConfig, ScriptedServerThread
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.runtime import slots
from studyapp.evaluations.runtime.runner import evaluation_run_inline
from studyapp.evaluations.services import StartRequest, evaluation_start
from studyapp.studies.models import ModelEndpoint
from tests.conftest import require
from tests.evaluations.runs.conftest import write_questions
from tests.factories import make_endpoint, make_llm_arm, make_study

REPO = Path(__file__).resolve().parents[3]
PER_CHUNK = 4  # units of one chunk at once: each process alone would exceed the bound
ITEMS_PER_CHUNK = 12

# One chunk of a run in a process of its own, started when the "go" file appears (so the
# two processes overlap from their first request).
CHUNK = """
import sys, time
from pathlib import Path
import django
django.setup()
from studyapp.evaluations.runtime.runner import evaluation_run_chunk
run_id, first_id, last_id, ready, go = sys.argv[1:6]
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.01)
evaluation_run_chunk(run_id=int(run_id), first_id=int(first_id), last_id=int(last_id))
"""


def process_env(tmp_path: Path, backend: str) -> dict[str, str]:
    db = connection.settings_dict
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "studyapp.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EVALUATION_POLL_S": "0.1",
        "EVALUATION_SLOT_POLL_S": "0.02",
    }
    if backend == "redis":
        return env | {"REDIS_URL": settings.REDIS_URL}
    env.pop("REDIS_URL", None)
    return env | {"EVALUATION_SLOT_DIR": str(tmp_path / "slots")}


def start_chunk(
    tmp_path: Path, env: dict[str, str], n: int, args: list[int], go: Path
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHUNK, *map(str, args), str(tmp_path / f"ready-{n}"), str(go)],
        cwd=REPO,
        env=env,
        stdout=(tmp_path / f"chunk-{n}.log").open("w"),
        stderr=subprocess.STDOUT,
    )


def start_run(server: ScriptedServerThread, path: Path, bound: int) -> EvaluationRun:
    study = make_study("slots-study")
    endpoint = make_endpoint(
        server.base_url, max_concurrent_streams=16, evaluation_concurrency=bound
    )
    arm = make_llm_arm(study, endpoint, key="gpt")
    request = StartRequest(
        kind="mcq",
        arm_key=arm.key,
        items_path=path,
        chunk_units=ITEMS_PER_CHUNK,
        concurrency=PER_CHUNK,
    )
    return evaluation_start(study=study, request=request, enqueue=False)


def run_chunks_in_processes(tmp_path: Path, backend: str, run: EvaluationRun) -> None:
    """Each chunk (ITEMS_PER_CHUNK items, one unit each) in a process of its own."""
    ids = list(run.items.order_by("pk").values_list("pk", flat=True))
    chunks = [ids[i : i + ITEMS_PER_CHUNK] for i in range(0, len(ids), ITEMS_PER_CHUNK)]
    go = tmp_path / "go"
    env = process_env(tmp_path, backend)
    processes = [
        start_chunk(tmp_path, env, n, [run.pk, chunk[0], chunk[-1]], go)
        for n, chunk in enumerate(chunks)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{n}").exists() for n in range(len(chunks))):
            assert time.monotonic() < deadline, "the chunk processes did not start"
            assert all(p.poll() is None for p in processes), log_of(tmp_path)
            time.sleep(0.05)
        go.touch()
        for process in processes:
            assert process.wait(90) == 0, log_of(tmp_path)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def two_processes_stats(tmp_path: Path, backend: str, bound: int) -> dict:
    """A run of two chunks, each in its own process; the scripted server's stats."""
    path = tmp_path / "q.jsonl"
    key = write_questions(path, 2 * ITEMS_PER_CHUNK)
    server = ScriptedServerThread(
        ScriptedConfig(mode="mcq", mcq_answer_key=key, ttft_s=0.3, token_delay_s=0.0)
    ).start()
    try:
        run = start_run(server, path, bound)
        if backend == "redis":
            # Endpoint ids start again with each test database: no slot of an earlier one.
            client = redis.Redis.from_url(settings.REDIS_URL)
            client.delete(slots.backend().key(run.endpoint_id))
            client.close()
        run_chunks_in_processes(tmp_path, backend, run)
        run.refresh_from_db()
        assert run.status == EvaluationRun.Status.SUCCEEDED
        assert run.items_done == 2 * ITEMS_PER_CHUNK
        return server.stats()
    finally:
        server.stop()


def log_of(tmp_path: Path) -> str:
    return "\n".join(p.read_text()[-2000:] for p in sorted(tmp_path.glob("chunk-*.log")))


@pytest.mark.parametrize("backend", ["redis", "file"])
def test_two_processes_share_the_endpoints_bound(transactional_db, tmp_path, backend):
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL)")
    if backend == "redis":
        require(bool(settings.REDIS_URL), "needs Redis (REDIS_URL)")

    stats = two_processes_stats(tmp_path, backend, bound=3)

    assert stats["count"] == 2 * ITEMS_PER_CHUNK
    assert stats["peak_in_flight"] == 3


def test_without_a_binding_bound_two_processes_exceed_what_one_runs(transactional_db, tmp_path):
    """The control: the same two processes, with room for all, overlap (so the test above
    would see more than 3 in flight if the slots were not shared)."""
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL)")

    stats = two_processes_stats(tmp_path, "file", bound=64)

    assert PER_CHUNK < stats["peak_in_flight"] <= 2 * PER_CHUNK


# The chat services run their database work in another thread: rows must be committed.
@pytest.mark.django_db(transaction=True)
def test_a_simulated_run_holds_a_slot_for_every_arm_reply_and_patient_message(
    study_with_arm, evaluator, fast_evaluations, tmp_path
):
    """The arm's replies (through the participants' reply stream) and the patient's
    messages each take a slot of their own endpoint."""
    fast_evaluations.EVALUATION_SLOT_DIR = tmp_path / "slots"
    fast_evaluations.EVALUATION_SLOT_POLL_S = 0.02
    study, arm = study_with_arm
    patient_server = ScriptedServerThread(
        ScriptedConfig(mode="patient", ttft_s=0.1, token_delay_s=0.0)
    ).start()
    try:
        make_endpoint(patient_server.base_url, name="patient-model", evaluation_concurrency=2)
        ModelEndpoint.objects.filter(pk=arm.endpoint_id).update(evaluation_concurrency=1)
        evaluator.configure(ttft_s=0.1)
        run = evaluation_start(
            study=study,
            request=StartRequest(
                kind="simulated", n=3, patient_endpoint="patient-model", concurrency=PER_CHUNK
            ),
            enqueue=False,
        )
        run = evaluation_run_inline(run_id=run.pk)
        patient = patient_server.stats()
    finally:
        patient_server.stop()

    assert run.status == EvaluationRun.Status.SUCCEEDED
    arm_stats = evaluator.stats()
    # 6 conversations of 3 turns: 18 arm replies; the patient wrote 18 messages, then answered.
    assert arm_stats["count"] == 18
    assert patient["count"] >= 18 + 6
    assert arm_stats["peak_in_flight"] == 1
    assert 1 <= patient["peak_in_flight"] <= 2
