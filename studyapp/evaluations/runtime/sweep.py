"""The beat's sweep: chunks of a dead worker, lost messages, and a broker that lost its data."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.runtime import chunks as chunk_claims
from studyapp.evaluations.runtime.runner import chunks_enqueue, evaluation_refresh

logger = logging.getLogger(__name__)


def evaluations_resume_stalled(*, now=None, broker_url: str = "") -> int:
    """Queue again the chunks whose worker died or whose message was lost; returns how
    many runs had chunks queued again (see evaluations.chunks).

    With `broker_url` (the beat's sweep passes the broker's), a Redis broker that lost its
    data since the last sweep (restarted without persistence, flushed) has every chunk
    still queued sent again at once, rather than after EVALUATION_STALL_S: its messages
    went with the data. A chunk delivered twice is harmless (it is claimed with a
    conditional UPDATE; a done chunk is skipped).
    """
    resent: dict[int, list[tuple[int, int]]] = {}
    marker = _BrokerMarker.for_url(broker_url)
    if marker is not None and marker.is_gone():
        for run_id in EvaluationRun.objects.filter(
            status__in=chunk_claims.UNFINISHED_RUN
        ).values_list("pk", flat=True):
            if ranges := chunk_claims.chunks_requeue(run_id=run_id, now=now):
                resent[run_id] = ranges
        logger.warning(
            "evaluations: the broker lost its data; %s chunks of %s runs sent again",
            sum(len(ranges) for ranges in resent.values()),
            len(resent),
        )
    sweep = chunk_claims.chunks_to_sweep(now=now)
    for run_id in sweep.gave_up:
        evaluation_refresh(run_id=run_id)
    for run_id, ranges in sweep.requeued.items():
        logger.warning(
            "evaluations: run %s had %s chunks stalled; queued again", run_id, len(ranges)
        )
        resent.setdefault(run_id, []).extend(ranges)
    for run_id, ranges in resent.items():
        transaction.on_commit(lambda run_id=run_id, ranges=ranges: chunks_enqueue(run_id, ranges))
    if marker is not None:
        # Only once the messages are sent: a sweep that dies before leaves it gone.
        transaction.on_commit(marker.set)
    return len(resent)


class _BrokerMarker:
    """A key the sweep keeps in the broker's Redis: gone means Redis lost its data, and
    with it the queued messages. Keyed by database, as several installations may share
    one Redis. (The first sweep on a new Redis finds none and sends its queue again.)"""

    def __init__(self, url: str) -> None:
        self.url = url
        self.key = f"studyapp:evaluations:broker-marker:{settings.DATABASES['default']['NAME']}"

    @classmethod
    def for_url(cls, url: str) -> _BrokerMarker | None:
        # Another broker (the embedded filesystem one) keeps its messages on disk.
        return cls(url) if url.startswith(("redis://", "rediss://")) else None

    def _client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)

    def is_gone(self) -> bool:
        import redis

        try:
            with self._client() as client:
                return not client.exists(self.key)
        except redis.RedisError as exc:
            # Nothing is sent through a broker that cannot be reached; the next sweep asks.
            logger.warning("evaluations: the broker's Redis did not answer (%s)", exc)
            return False

    def set(self) -> None:
        import redis

        try:
            with self._client() as client:
                client.set(self.key, timezone.now().isoformat())
        except redis.RedisError as exc:
            logger.warning("evaluations: could not mark the broker's Redis (%s)", exc)
