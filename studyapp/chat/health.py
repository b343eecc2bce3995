"""How each model endpoint is doing, measured from the participants' real chats.

A "Test connection" says an endpoint answered once; this says whether it is answering the
people in the study now. It reads the assistant replies that ended in the last
WINDOW_MINUTES (at most REPLIES_PER_ENDPOINT per endpoint, the newest) in one query and
summarises each endpoint in pure code: replies, errors, error rate, the last success and
failure, the median time to first token, and how many of the newest replies failed in a row.

Which replies count: a reply that ended `complete` is a success and one that ended `error`
(the model server timed out, refused, failed or cut the stream) a failure. An `interrupted`
reply (the participant left, or the web process died) says nothing about the endpoint and
is not counted; nor is one still streaming.

The rule for "degraded" (shown on the study page and in /healthz):
- the newest FAILED_IN_A_ROW (3) replies all failed: an endpoint that stopped answering shows
  after three failed replies, the count after which the chat offers a participant the
  technical exit (Study.technical_exit_after's default), whatever it did before; or
- at least MIN_REPLIES_FOR_RATE (10) replies in the window and an error rate of
  ERROR_RATE_DEGRADED (20%) or more: an endpoint that fails one reply in five is not
  working for the study, even between successes.
An endpoint without replies in the window is "no recent chats", not degraded: the launch
checklist (studies.launch) is what tests an endpoint before anyone depends on it.

Nothing here reads or returns message text: only statuses, times and endpoint names.
It lives in chat because it reads chat's Message rows (studies must not import chat).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db.models import BigIntegerField, ExpressionWrapper, F, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from studyapp.chat.models import Message
from studyapp.studies.models import Arm, ModelEndpoint, Study

WINDOW_MINUTES = 10
REPLIES_PER_ENDPOINT = 200
# Messages (both roles, every study) looked at, newest first: 20,000 is 10 minutes of 33
# messages a second, far beyond a study's chats; see _recent_rows.
MESSAGES_SCANNED = 20_000
FAILED_IN_A_ROW = 3
MIN_REPLIES_FOR_RATE = 10
ERROR_RATE_DEGRADED = 0.2

_COUNTED = (Message.Status.COMPLETE, Message.Status.ERROR)


@dataclass(frozen=True)
class ReplyRow:
    """One finished reply, as much of it as health needs (no text)."""

    endpoint_id: int
    endpoint_name: str
    ok: bool
    finished_at: datetime
    time_to_first_token_ms: float | None


@dataclass(frozen=True)
class EndpointHealth:
    endpoint_id: int | None  # None: listed by name, without replies in the window
    name: str
    replies: int = 0
    errors: int = 0
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    median_ttft_ms: float | None = None
    # How many of the newest replies failed, counting back to the newest success.
    failed_in_a_row: int = 0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.replies if self.replies else None

    @property
    def reason(self) -> str:
        """Why the endpoint is degraded, in words ("" when it is not)."""
        if self.failed_in_a_row >= FAILED_IN_A_ROW:
            return f"its last {self.failed_in_a_row} replies failed"
        rate = self.error_rate
        if (
            self.replies >= MIN_REPLIES_FOR_RATE
            and rate is not None
            and rate >= ERROR_RATE_DEGRADED
        ):
            return (
                f"{self.errors} of its {self.replies} replies in the last {WINDOW_MINUTES} "
                f"minutes failed ({rate:.0%})"
            )
        return ""

    @property
    def degraded(self) -> bool:
        return bool(self.reason)

    @property
    def state(self) -> str:
        if self.degraded:
            return "degraded"
        return "ok" if self.replies else "no recent chats"


def summarize(rows: Iterable[ReplyRow], *, expected: Iterable[str] = ()) -> list[EndpointHealth]:
    """Each endpoint's health from its finished replies (any order). `expected`: names of
    endpoints to list even without replies, so a page shows every endpoint it uses."""
    # Endpoint names are unique (ModelEndpoint.name): the key a page and a row share.
    by_name: dict[str, list[ReplyRow]] = defaultdict(list)
    for row in rows:
        by_name[row.endpoint_name].append(row)
    for name in expected:
        by_name.setdefault(name, [])
    result = []
    for name, unordered in by_name.items():
        replies = sorted(unordered, key=lambda r: r.finished_at)
        if not replies:
            result.append(EndpointHealth(endpoint_id=None, name=name))
            continue
        endpoint_id = replies[0].endpoint_id
        successes = [r for r in replies if r.ok]
        failures = [r for r in replies if not r.ok]
        ttfts = [
            r.time_to_first_token_ms for r in successes if r.time_to_first_token_ms is not None
        ]
        in_a_row = 0
        for reply in reversed(replies):
            if reply.ok:
                break
            in_a_row += 1
        result.append(
            EndpointHealth(
                endpoint_id=endpoint_id,
                name=name,
                replies=len(replies),
                errors=len(failures),
                last_success_at=successes[-1].finished_at if successes else None,
                last_failure_at=failures[-1].finished_at if failures else None,
                median_ttft_ms=float(np.median(ttfts)) if ttfts else None,
                failed_in_a_row=in_a_row,
            )
        )
    return sorted(result, key=lambda h: h.name)


def _recent_rows(*, endpoint_filter: dict, now: datetime) -> list[ReplyRow]:
    """One query: the newest finished replies of the chosen endpoints in the window, at
    most REPLIES_PER_ENDPOINT each (a busy endpoint cannot crowd out a quiet one, and the
    rows read stay bounded however busy the study is)."""
    since = now - timedelta(minutes=WINDOW_MINUTES)
    # completed_at has no index: the rows looked at are bounded by the primary key instead,
    # the newest MESSAGES_SCANNED messages (an index range), so the query costs the same on
    # a study's first day and after a million messages; a window busier than that is judged
    # by its newest messages, which is what health is about. Both bounds are written out:
    # with only the lower one PostgreSQL guesses a third of the table and scans all of it.
    newest = Subquery(Message.objects.order_by("-pk").values("pk")[:1])
    rows = (
        Message.objects.filter(
            pk__gt=ExpressionWrapper(newest - MESSAGES_SCANNED, output_field=BigIntegerField()),
            pk__lte=newest,
            role=Message.Role.ASSISTANT,
            status__in=_COUNTED,
            completed_at__gte=since,
            completed_at__lte=now,
            **endpoint_filter,
        )
        .annotate(
            endpoint_id=F("conversation__endpoint_id"),
            endpoint_name=F("conversation__endpoint__name"),
            newest=Window(
                RowNumber(),
                partition_by=F("conversation__endpoint_id"),
                order_by=F("completed_at").desc(),
            ),
        )
        .filter(newest__lte=REPLIES_PER_ENDPOINT)
        .values_list(
            "endpoint_id", "endpoint_name", "status", "completed_at", "time_to_first_token_ms"
        )
        .order_by()
    )
    return [
        ReplyRow(endpoint_id, name, status == Message.Status.COMPLETE, finished, ttft)
        for endpoint_id, name, status, finished, ttft in rows
    ]


def study_endpoint_health(
    *, study: Study, endpoint_names: Iterable[str] | None = None, now: datetime | None = None
) -> list[EndpointHealth]:
    """Every endpoint the study's LLM arms use, measured from all its recent chats (an
    endpoint's health is the server's, whichever study's chat met it). One query when the
    caller already knows the endpoints' names (the study page's arms), two otherwise."""
    study_endpoints = Arm.objects.filter(
        study=study, kind=Arm.Kind.LLM, endpoint__isnull=False
    ).values("endpoint_id")
    if endpoint_names is None:
        endpoint_names = ModelEndpoint.objects.filter(pk__in=study_endpoints).values_list(
            "name", flat=True
        )
    names = list(endpoint_names)
    if not names:
        return []
    rows = _recent_rows(
        endpoint_filter={"conversation__endpoint_id__in": study_endpoints},
        now=now or timezone.now(),
    )
    return summarize(rows, expected=names)


def live_endpoint_health(*, now: datetime | None = None) -> list[EndpointHealth]:
    """The endpoints of running studies' LLM arms (enrolling or paused: those inside a
    paused study still chat) that had replies in the window. One query (the arms are a
    subquery); for /healthz."""
    live_endpoints = Arm.objects.filter(
        kind=Arm.Kind.LLM, study__status__in=Study.RUNNING, endpoint__isnull=False
    ).values("endpoint_id")
    rows = _recent_rows(
        endpoint_filter={"conversation__endpoint_id__in": live_endpoints},
        now=now or timezone.now(),
    )
    return summarize(rows)


def endpoints_health(
    *, endpoint_ids: Iterable[int], now: datetime | None = None
) -> dict[int, EndpointHealth]:
    """The health of these endpoints that had replies in the window, by endpoint id (an
    endpoint without any is absent). One query; for the endpoints page."""
    ids = list(endpoint_ids)
    if not ids:
        return {}
    rows = _recent_rows(
        endpoint_filter={"conversation__endpoint_id__in": ids}, now=now or timezone.now()
    )
    return {h.endpoint_id: h for h in summarize(rows) if h.endpoint_id is not None}
