"""Cancelling a run, and a chunk that hits its soft time limit."""

from __future__ import annotations

import threading

from celery.exceptions import SoftTimeLimitExceeded

from studyapp.evaluations import tasks
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.runtime.runner import evaluation_run_chunk
from studyapp.evaluations.services import StartRequest, evaluation_cancel, evaluation_start
from tests.evaluations.runs.conftest import first_chunk, write_questions
from tests.factories import make_endpoint, make_llm_arm, make_study


def test_a_cancelled_run_stops_asking_and_keeps_what_it_stored(
    transactional_db, evaluator, fast_evaluations, tmp_path
):
    study = make_study("cancel-study")
    make_llm_arm(study, make_endpoint(evaluator.base_url, max_concurrent_streams=1), key="gpt")
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 40), ttft_s=0.05)
    run = evaluation_start(
        study=study,
        request=StartRequest(kind="mcq", items_path=path, chunk_units=40, concurrency=1),
        enqueue=False,
    )
    first, last = first_chunk(run)
    threading.Timer(0.4, lambda: evaluation_cancel(run_id=run.pk)).start()

    evaluation_run_chunk(run_id=run.pk, first_id=first, last_id=last)

    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.CANCELLED
    done = run.items.filter(status=EvaluationItem.Status.SUCCEEDED).count()
    assert 0 < done < 40
    assert run.items.filter(status=EvaluationItem.Status.PENDING).count() == 40 - done
    # At most the request in flight when the cancel was seen went out after it.
    assert evaluator.stats()["count"] <= done + 1


def test_a_chunk_past_its_soft_time_limit_goes_back_on_the_queue(monkeypatch):
    queued = []

    def slow(**kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(tasks.runner, "evaluation_run_chunk", slow)
    monkeypatch.setattr(
        tasks.evaluation_chunk_task, "apply_async", lambda args, countdown: queued.append(args)
    )
    tasks.evaluation_chunk_task.run(7, 100, 120)
    assert queued == [(7, 100, 120)]


def test_a_stalled_run_is_queued_again(
    study_with_arm, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from studyapp.evaluations.runtime import sweep

    queued = []
    monkeypatch.setattr(sweep, "chunks_enqueue", lambda run_id, chunks: queued.append(chunks))
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 3)
    run = evaluation_start(
        study=study, request=StartRequest(kind="mcq", items_path=path), enqueue=False
    )
    EvaluationRun.objects.filter(pk=run.pk).update(status="running")
    later = timezone.now() + timedelta(hours=2)

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep.evaluations_resume_stalled(now=timezone.now()) == 0
        assert sweep.evaluations_resume_stalled(now=later) == 1

    assert queued == [[(c.first_item_id, c.last_item_id) for c in run.chunks.all()]]
