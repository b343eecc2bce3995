"""Background jobs of evaluations. Each takes ids and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from studyapp.evaluations.runtime import runner, sweep
from studyapp.evaluations.runtime.chunks import ChunkBusy

logger = logging.getLogger(__name__)


@shared_task(
    name="studyapp.evaluations.tasks.evaluation_chunk_task",
    soft_time_limit=settings.EVALUATION_CHUNK_SOFT_TIME_LIMIT,
    time_limit=settings.EVALUATION_CHUNK_TIME_LIMIT,
    acks_late=True,
    reject_on_worker_lost=True,
)
def evaluation_chunk_task(run_id: int, first_id: int, last_id: int) -> None:
    """Run one chunk. Safe to deliver twice: the chunk is claimed (a live holder makes
    this delivery come back later), and only pending items are asked and stored."""
    try:
        runner.evaluation_run_chunk(run_id=run_id, first_id=first_id, last_id=last_id)
    except ChunkBusy as busy:
        # Redelivered while its first worker still works (or has just died: then the
        # claim expires and the next try takes it over).
        evaluation_chunk_task.apply_async((run_id, first_id, last_id), countdown=busy.retry_in_s)
    except SoftTimeLimitExceeded:
        # What finished is stored; the rest of the chunk goes back on the queue.
        logger.warning(
            "evaluations: run %s chunk %s-%s hit its time limit", run_id, first_id, last_id
        )
        evaluation_chunk_task.apply_async((run_id, first_id, last_id), countdown=1)
    except Exception as exc:
        logger.exception("evaluations: run %s chunk %s-%s failed", run_id, first_id, last_id)
        runner.evaluation_fail(run_id=run_id, error=f"internal: {type(exc).__name__}")
        raise


@shared_task(
    name="studyapp.evaluations.tasks.resume_stalled_evaluations_task",
    soft_time_limit=30,
    time_limit=60,
)
def resume_stalled_evaluations_task() -> int:
    """Queue again runs whose worker died or whose messages the broker lost (scheduled
    every EVALUATION_SWEEP_S, 20 s by default)."""
    return sweep.evaluations_resume_stalled(broker_url=settings.CELERY_BROKER_URL)
