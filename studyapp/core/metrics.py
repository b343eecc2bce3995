"""Prometheus metrics: the small API the rest of the code calls, and the scrape.

Callers record through plain functions (`http_request_observed`, `socket_opened`,
`reply_first_token`, ...) and never touch prometheus_client themselves, so the metric
names, labels and buckets live here only.

Several processes (uvicorn `--workers N`, Celery's prefork children) each hold their own
counters. With PROMETHEUS_MULTIPROC_DIR set in the environment *before the process starts*
(prometheus_client reads it when it is first imported), every process writes its values
to files in that folder and a scrape of any worker adds them up. The folder must be empty
when the server starts (a tmpfs / emptyDir per container does that). Without it, each
process has its own in-memory registry, which is right for one process.

Labels never hold a raw path, a participant token or participant text: requests are
labelled by their resolved URL name, replies by the endpoint label the caller gives.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

logger = logging.getLogger(__name__)

# prometheus_client decides between in-memory and file-backed values from this variable
# when it is first imported, so it is read from the environment, not from settings.
MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Our metrics live in their own registry: the library's global one would add process and
# GC collectors whose values mean nothing summed across processes.
_REGISTRY = CollectorRegistry(auto_describe=True)

# Anything else a client sends as a method would be a new label value.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Time to the first token: 10 ms (scripted model) to 60 s (a queued, overloaded server).
FIRST_TOKEN_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
)  # fmt: skip
# Gap between two deltas of one reply: 1 ms (fast decoding) to 5 s (a stalled stream).
TOKEN_GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_http_requests = Counter(
    "studyapp_http_requests",
    "HTTP requests answered, by method, status and resolved URL name.",
    ["method", "status", "view"],
    registry=_REGISTRY,
)
_http_duration = Histogram(
    "studyapp_http_request_duration_seconds",
    "Time to a response's headers (a streamed body is not included), by URL name.",
    ["method", "view"],
    buckets=HTTP_BUCKETS,
    registry=_REGISTRY,
)
_open_sockets = Gauge(
    "studyapp_chat_sockets_open",
    "Chat WebSockets open now.",
    # livesum: the sum over live processes; a dead worker's sockets are gone with it.
    multiprocess_mode="livesum",
    registry=_REGISTRY,
)
_first_token = Histogram(
    "studyapp_chat_reply_first_token_seconds",
    "Time from asking the model to its first token, by endpoint.",
    ["endpoint"],
    buckets=FIRST_TOKEN_BUCKETS,
    registry=_REGISTRY,
)
_token_gap = Histogram(
    "studyapp_chat_reply_token_gap_seconds",
    "Time between two streamed deltas of one reply, by endpoint.",
    ["endpoint"],
    buckets=TOKEN_GAP_BUCKETS,
    registry=_REGISTRY,
)
_replies = Counter(
    "studyapp_chat_replies",
    "Model replies finished, by endpoint, message status and error code ('' for none).",
    ["endpoint", "status", "error_code"],
    registry=_REGISTRY,
)


# --- The API other code calls ------------------------------------------------------------
def http_request_observed(method: str, status: int, view_name: str, seconds: float) -> None:
    """One HTTP response. `view_name` is the resolved URL name, never the path."""
    method = method.upper() if method.upper() in _METHODS else "OTHER"
    _http_requests.labels(method, str(status), view_name).inc()
    _http_duration.labels(method, view_name).observe(seconds)


def socket_opened() -> None:
    """A chat WebSocket was accepted."""
    _open_sockets.inc()


def socket_closed() -> None:
    """A chat WebSocket that `socket_opened` counted has closed."""
    _open_sockets.dec()


def reply_first_token(endpoint_label: str, seconds: float) -> None:
    """The first token of a reply arrived `seconds` after the request was sent."""
    _first_token.labels(endpoint_label).observe(seconds)


def reply_token_gap(endpoint_label: str, seconds: float) -> None:
    """A delta arrived `seconds` after the previous delta of the same reply."""
    _token_gap.labels(endpoint_label).observe(seconds)


def reply_token_gap_observer(endpoint_label: str) -> Callable[[float], None]:
    """reply_token_gap for one endpoint, its label looked up once (a reply observes a gap
    per token)."""
    return _token_gap.labels(endpoint_label).observe


def reply_finished(endpoint_label: str, status: str, error_code: str = "") -> None:
    """A reply ended: `status` is the stored message status (complete, interrupted, error)."""
    _replies.labels(endpoint_label, status, error_code or "").inc()


# --- Evaluation progress, read from the database at scrape time --------------------------
class EvaluationCollector:
    """Runs by status and their items (total / done / failed), in one aggregate query.

    The numbers are rows in the database, the same whichever process is scraped, so this
    is never per-process state: it is added to the scrape, not to the multiprocess files.
    """

    def describe(self) -> Iterable[Metric]:
        # Describing without collecting keeps registration from querying the database.
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        from django.apps import apps
        from django.db import DatabaseError
        from django.db.models import Count, Sum

        run_model = apps.get_model("evaluations", "EvaluationRun")
        runs, items, up = self._families()
        try:
            rows = list(
                run_model.objects.order_by()
                .values("status")
                .annotate(
                    runs=Count("id"),
                    total=Sum("items_total"),
                    done=Sum("items_done"),
                    failed=Sum("items_failed"),
                )
            )
        except DatabaseError as exc:
            # Every scrape would repeat a traceback; the gauge below says it failed.
            logger.warning("metrics: evaluation progress not read: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        by_status = {row["status"]: row for row in rows}
        for status in run_model.Status.values:
            row = by_status.get(status, {})
            runs.add_metric([status], row.get("runs") or 0)
            for progress in ("total", "done", "failed"):
                items.add_metric([status, progress], row.get(progress) or 0)
        up.add_metric([], 1)
        yield from (runs, items, up)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "studyapp_evaluation_runs", "Evaluation runs by status.", labels=["status"]
            ),
            GaugeMetricFamily(
                "studyapp_evaluation_items",
                "Items of evaluation runs, by the run's status: total, done and failed.",
                labels=["run_status", "progress"],
            ),
            GaugeMetricFamily(
                "studyapp_evaluation_progress_up",
                "1 if evaluation progress was read from the database in this scrape.",
            ),
        )


_LIVE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def _forget_dead_processes(path: Path) -> None:
    """Drop the live gauges of worker processes that have exited.

    uvicorn has no hook that runs when a worker dies (gunicorn's child_exit is where
    prometheus_client's docs call mark_process_dead), so the scrape does it: a killed
    worker's open sockets must not be counted as open forever.
    """
    pids = {
        int(m.group(1)) for p in path.glob("gauge_live*.db") if (m := _LIVE_FILE.match(p.name))
    }
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, str(path))
        except PermissionError:
            pass  # alive, someone else's


def scrape_registry() -> CollectorRegistry:
    """A registry with everything one scrape reports."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROC_DIR:
        _forget_dead_processes(Path(MULTIPROC_DIR))
        MultiProcessCollector(registry, path=MULTIPROC_DIR)
    else:
        registry.register(_REGISTRY)  # a registry is itself a collector
    registry.register(EvaluationCollector())
    return registry


def render() -> bytes:
    """The text exposition format of one scrape."""
    return generate_latest(scrape_registry())
