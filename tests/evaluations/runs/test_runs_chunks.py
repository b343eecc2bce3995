"""Chunk claims: one live holder per chunk, takeover after a dead worker's lease, the
sweep that brings a killed worker's chunk back on any broker, and the attempt cap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from studyapp.evaluations import tasks
from studyapp.evaluations.models import EvaluationChunk, EvaluationItem, EvaluationRun
from studyapp.evaluations.runtime import chunks, sweep
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.evaluations.runs.conftest import first_chunk, write_questions


@pytest.fixture
def mcq_run(study_with_arm, tmp_path):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 6)
    return evaluation_start(
        study=study,
        request=StartRequest(kind="mcq", items_path=path, chunk_units=3),
        enqueue=False,
    )


def age_heartbeat(run, seconds: float) -> None:
    run.chunks.update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_a_run_is_split_into_queued_chunks_of_whole_units(mcq_run):
    ranges = list(mcq_run.chunks.values_list("first_item_id", "last_item_id", "status"))
    ids = sorted(mcq_run.items.values_list("pk", flat=True))
    assert ranges == [(ids[0], ids[2], "queued"), (ids[3], ids[5], "queued")]


def test_a_live_claim_makes_a_second_delivery_wait(mcq_run, settings):
    settings.EVALUATION_CHUNK_LEASE_S = 60
    first, _last = first_chunk(mcq_run)
    claim = chunks.chunk_claim(run_id=mcq_run.pk, first_id=first, worker="a")

    with pytest.raises(chunks.ChunkBusy) as busy:
        chunks.chunk_claim(run_id=mcq_run.pk, first_id=first, worker="b")
    assert 55 <= busy.value.retry_in_s <= 62
    chunk = EvaluationChunk.objects.get(pk=claim.chunk_id)
    assert (chunk.status, chunk.claimed_by, chunk.attempts) == ("running", "a", 1)
    assert chunks.chunk_renew(claim)


def test_a_dead_workers_claim_is_taken_over_and_the_old_holder_stops(mcq_run, settings):
    settings.EVALUATION_CHUNK_LEASE_S = 60
    first, _last = first_chunk(mcq_run)
    old = chunks.chunk_claim(run_id=mcq_run.pk, first_id=first, worker="a")
    age_heartbeat(mcq_run, 61)

    new = chunks.chunk_claim(run_id=mcq_run.pk, first_id=first, worker="b")

    assert new.token != old.token
    # The stalled holder learns it lost the chunk and cannot finish or release it.
    assert not chunks.chunk_renew(old)
    chunks.chunk_finish(old)
    chunks.chunk_release(old)
    chunk = EvaluationChunk.objects.get(pk=new.chunk_id)
    assert (chunk.status, chunk.claimed_by, chunk.attempts) == ("running", "b", 2)


def test_a_done_chunk_is_skipped_and_a_released_one_claimed_again(mcq_run):
    first, _last = first_chunk(mcq_run)
    claim = chunks.chunk_claim(run_id=mcq_run.pk, first_id=first)
    chunks.chunk_release(claim)
    again = chunks.chunk_claim(run_id=mcq_run.pk, first_id=first)
    chunks.chunk_finish(again)

    assert chunks.chunk_claim(run_id=mcq_run.pk, first_id=first) is None


def test_the_sweep_requeues_dead_workers_chunks_only(mcq_run, settings):
    settings.EVALUATION_CHUNK_LEASE_S = 60
    EvaluationRun.objects.filter(pk=mcq_run.pk).update(status="running")
    (first_a, last_a), (first_b, _) = mcq_run.chunks.values_list("first_item_id", "last_item_id")
    chunks.chunk_claim(run_id=mcq_run.pk, first_id=first_a)
    chunks.chunk_claim(run_id=mcq_run.pk, first_id=first_b)
    mcq_run.chunks.filter(first_item_id=first_a).update(
        heartbeat_at=timezone.now() - timedelta(seconds=61)
    )

    sweep = chunks.chunks_to_sweep()

    assert sweep.requeued == {mcq_run.pk: [(first_a, last_a)]}
    assert dict(mcq_run.chunks.values_list("first_item_id", "status")) == {
        first_a: "queued",
        first_b: "running",
    }
    # Swept once: the next sweep finds nothing (the chunk waits for its message).
    assert chunks.chunks_to_sweep().requeued == {}


def test_a_queued_chunk_is_not_lost_while_its_run_has_a_live_chunk(mcq_run, settings):
    settings.EVALUATION_STALL_S = 900
    EvaluationRun.objects.filter(pk=mcq_run.pk).update(status="running")
    (first_a, _), (first_b, last_b) = mcq_run.chunks.values_list("first_item_id", "last_item_id")
    chunks.chunk_claim(run_id=mcq_run.pk, first_id=first_a)
    later = timezone.now() + timedelta(seconds=901)
    mcq_run.chunks.filter(first_item_id=first_a).update(heartbeat_at=later)

    assert chunks.chunks_to_sweep(now=later).requeued == {}

    mcq_run.chunks.filter(first_item_id=first_a).update(status="done")
    assert chunks.chunks_to_sweep(now=later).requeued == {mcq_run.pk: [(first_b, last_b)]}


def test_a_chunk_that_keeps_killing_its_worker_fails_its_items(
    mcq_run, settings, django_capture_on_commit_callbacks
):
    settings.EVALUATION_CHUNK_LEASE_S = 60
    settings.EVALUATION_CHUNK_MAX_ATTEMPTS = 3
    EvaluationRun.objects.filter(pk=mcq_run.pk).update(status="running")
    first, last = first_chunk(mcq_run)
    mcq_run.chunks.exclude(first_item_id=first).update(status="done")
    for _ in range(3):
        chunks.chunk_claim(run_id=mcq_run.pk, first_id=first)
        age_heartbeat(mcq_run, 61)
        with django_capture_on_commit_callbacks():
            sweep.evaluations_resume_stalled()

    items = mcq_run.items.filter(pk__range=(first, last))
    assert set(items.values_list("status", flat=True)) == {EvaluationItem.Status.FAILED}
    assert items.first().error == "worker lost 3 times on this chunk"
    mcq_run.refresh_from_db()
    # Three of six items failed: not more than half, so the run is not failed for it, but
    # the other three are still pending.
    assert mcq_run.status == "running"
    assert mcq_run.items_failed == 3


def test_a_busy_delivery_comes_back_after_the_lease(monkeypatch):
    queued = []

    def busy(**kwargs):
        raise chunks.ChunkBusy(12.5)

    monkeypatch.setattr(tasks.runner, "evaluation_run_chunk", busy)
    monkeypatch.setattr(
        tasks.evaluation_chunk_task,
        "apply_async",
        lambda args, countdown: queued.append((args, countdown)),
    )
    tasks.evaluation_chunk_task.run(7, 100, 120)
    assert queued == [((7, 100, 120), 12.5)]


def test_an_interrupted_chunk_is_given_back(mcq_run, evaluator, monkeypatch):
    from studyapp.evaluations.runtime import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_run_claimed_chunk", interrupted)
    first, last = first_chunk(mcq_run)
    with pytest.raises(KeyboardInterrupt):
        runner.evaluation_run_chunk(run_id=mcq_run.pk, first_id=first, last_id=last)
    chunk = mcq_run.chunks.get(first_item_id=first)
    assert (chunk.status, chunk.claim, chunk.attempts) == ("queued", "", 1)
