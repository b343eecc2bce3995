"""Claims on chunks: who runs which piece of a run, and what happens when a worker dies.

A chunk task claims its chunk before it asks anything (queued → running, with a random
token), renews the claim while it works, and marks it done at the end or queued again
when it is interrupted. The claim is what makes delivery at-least-once safe:

- a second delivery of a chunk that a live worker holds is told to come back later
  (``ChunkBusy``), so two workers never ask the model the same questions at once;
- a claim whose heartbeat is older than EVALUATION_CHUNK_LEASE_S belongs to a dead
  worker: the next delivery takes it over, and the periodic sweep queues it again, which
  is what brings a killed worker's chunk back on a broker that never redelivers (the
  embedded filesystem broker);
- a chunk claimed EVALUATION_CHUNK_MAX_ATTEMPTS times without finishing (one that kills
  its worker every time) fails its pending items instead of looping forever.

Every change is one conditional UPDATE, so concurrent workers need no locks.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from studyapp.evaluations.models import EvaluationChunk, EvaluationItem, EvaluationRun

logger = logging.getLogger(__name__)

UNFINISHED_RUN = [EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING]


class ChunkBusy(Exception):
    """A live worker holds the chunk; try again after retry_in_s."""

    def __init__(self, retry_in_s: float) -> None:
        super().__init__(f"chunk held by a live worker; retry in {retry_in_s:.0f} s")
        self.retry_in_s = retry_in_s


@dataclass(frozen=True)
class Claim:
    chunk_id: int
    token: str


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def _lease() -> timedelta:
    return timedelta(seconds=settings.EVALUATION_CHUNK_LEASE_S)


def _claimable(now: datetime) -> Q:
    return Q(status=EvaluationChunk.Status.QUEUED) | _dead_worker(now)


def chunk_claim(*, run_id: int, first_id: int, worker: str = "") -> Claim | None:
    """Take the chunk starting at first_id; None when it is done (nothing to do).

    Raises ChunkBusy when a live worker holds it.
    """
    now = timezone.now()
    token = secrets.token_hex(16)
    chunks = EvaluationChunk.objects.filter(run_id=run_id, first_item_id=first_id)
    taken = chunks.filter(_claimable(now)).update(
        status=EvaluationChunk.Status.RUNNING,
        claim=token,
        claimed_by=worker or worker_name(),
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        updated_at=now,
    )
    if taken:
        return Claim(chunks.values_list("pk", flat=True).get(), token)
    chunk = chunks.first()
    if chunk is None or chunk.status == EvaluationChunk.Status.DONE:
        return None
    expires = chunk.heartbeat_at + _lease() if chunk.heartbeat_at else now
    raise ChunkBusy(max(1.0, (expires - now).total_seconds() + 1))


def chunk_renew(claim: Claim) -> bool:
    """Heartbeat; False when the claim was lost (taken over after a long stall)."""
    now = timezone.now()
    return bool(
        EvaluationChunk.objects.filter(pk=claim.chunk_id, claim=claim.token).update(
            heartbeat_at=now, updated_at=now
        )
    )


def chunk_finish(claim: Claim) -> None:
    EvaluationChunk.objects.filter(pk=claim.chunk_id, claim=claim.token).update(
        status=EvaluationChunk.Status.DONE, claim="", updated_at=timezone.now()
    )


def chunk_release(claim: Claim) -> None:
    """Give the chunk back (interrupted): queued again, for the next delivery or the sweep."""
    _requeue(EvaluationChunk.objects.filter(pk=claim.chunk_id, claim=claim.token))


def _requeue(chunks: QuerySet[EvaluationChunk], now: datetime | None = None) -> int:
    """Mark the chunks queued again, unclaimed; returns how many were."""
    now = now or timezone.now()
    return chunks.update(
        status=EvaluationChunk.Status.QUEUED, claim="", queued_at=now, updated_at=now
    )


def chunks_requeue(*, run_id: int, now: datetime | None = None) -> list[tuple[int, int]]:
    """Put back in the queue every chunk of the run that is not done and not held by a
    live worker; returns their (first, last) ranges for the caller to enqueue."""
    now = now or timezone.now()
    chunks = EvaluationChunk.objects.filter(run_id=run_id).filter(_claimable(now))
    ranges = list(chunks.values_list("first_item_id", "last_item_id"))
    _requeue(chunks, now)
    return ranges


@dataclass(frozen=True)
class Sweep:
    # {run id: [(first, last), ...]} marked queued again, for the caller to enqueue.
    requeued: dict[int, list[tuple[int, int]]]
    # Runs where a chunk used up its attempts and failed its pending items.
    gave_up: set[int]


def held_by_live_worker(now: datetime | None = None) -> Q:
    """Chunks a worker is working on now (its claim renewed within the lease)."""
    now = now or timezone.now()
    return Q(status=EvaluationChunk.Status.RUNNING, heartbeat_at__gte=now - _lease())


def _dead_worker(now: datetime) -> Q:
    return Q(status=EvaluationChunk.Status.RUNNING) & (
        Q(heartbeat_at__lt=now - _lease()) | Q(heartbeat_at__isnull=True)
    )


def _lost_message(now: datetime) -> Q:
    """Queued for EVALUATION_STALL_S while no chunk of its run is alive: a long queue
    behind busy workers is not a lost message, a silent run is."""
    cutoff = now - timedelta(seconds=settings.EVALUATION_STALL_S)
    alive = EvaluationChunk.objects.filter(held_by_live_worker(now), run_id=OuterRef("run_id"))
    return (
        Q(status=EvaluationChunk.Status.QUEUED)
        & (Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, updated_at__lt=cutoff))
        & ~Exists(alive)
    )


def chunks_to_sweep(*, now: datetime | None = None) -> Sweep:
    """Chunks of unfinished runs whose worker died, or whose message was lost, marked
    queued again; a chunk that has used its attempts fails its pending items instead."""
    now = now or timezone.now()
    stalled = _dead_worker(now) | _lost_message(now)
    sweep = Sweep(requeued={}, gave_up=set())
    for chunk in EvaluationChunk.objects.filter(run__status__in=UNFINISHED_RUN).filter(stalled):
        if chunk.attempts >= settings.EVALUATION_CHUNK_MAX_ATTEMPTS:
            _give_up(chunk, now)
            sweep.gave_up.add(chunk.run_id)
            continue
        # Only if nobody claimed it meanwhile (the row is unchanged).
        unchanged = EvaluationChunk.objects.filter(
            pk=chunk.pk, status=chunk.status, claim=chunk.claim
        )
        if _requeue(unchanged, now):
            ranges = sweep.requeued.setdefault(chunk.run_id, [])
            ranges.append((chunk.first_item_id, chunk.last_item_id))
    return sweep


def _give_up(chunk: EvaluationChunk, now: datetime) -> None:
    failed = EvaluationItem.objects.filter(
        run_id=chunk.run_id,
        pk__range=(chunk.first_item_id, chunk.last_item_id),
        status=EvaluationItem.Status.PENDING,
    ).update(
        status=EvaluationItem.Status.FAILED,
        error=f"worker lost {chunk.attempts} times on this chunk",
        updated_at=now,
    )
    EvaluationChunk.objects.filter(pk=chunk.pk).update(
        status=EvaluationChunk.Status.DONE, claim="", updated_at=now
    )
    logger.error(
        "evaluations: run %s chunk %s-%s lost its worker %s times; %s items failed",
        chunk.run_id,
        chunk.first_item_id,
        chunk.last_item_id,
        chunk.attempts,
        failed,
    )
