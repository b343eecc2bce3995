"""Replies in flight and recent failures of one study's chats, for the live monitor.

Reads only statuses, times, arms, endpoints and error *codes* (the part of
`Message.error` before its detail, e.g. "timeout" or "server_error (HTTP 503)"): never
message text, and never the error's detail, which may quote what a server sent back.
Like chat.health, the rows looked at are bounded by the primary key (the newest
health.MESSAGES_SCANNED messages), so a poll costs the same after a million messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import BigIntegerField, Count, ExpressionWrapper, Subquery
from django.utils import timezone

from studyapp.chat.health import MESSAGES_SCANNED, WINDOW_MINUTES
from studyapp.chat.models import Message
from studyapp.chat.selectors import stale_before
from studyapp.participation.models import humans_q
from studyapp.studies.models import Study

RECENT_FAILURES = 10


def error_code(error: str) -> str:
    """The code of a stored error ("timeout (HTTP 504): read timed out" -> "timeout
    (HTTP 504)"); llm.base.LLMError.summary writes it first."""
    return error.split(":", 1)[0].strip()[:40] or "unknown"


@dataclass(frozen=True)
class FailedReply:
    at: datetime
    arm_key: str
    endpoint: str
    code: str
    participant_id: int | None
    position: int


@dataclass(frozen=True)
class InFlight:
    """A reply streaming now."""

    arm_id: int
    started_at: datetime
    stale: bool  # its writer stopped renewing the heartbeat (the sweep will mark it)


@dataclass(frozen=True)
class ReplyMonitor:
    window_minutes: int
    in_flight: list[InFlight] = field(default_factory=list)
    # In the window: replies that ended complete, ended in an error, and errors by code.
    completed: int = 0
    failed: int = 0
    failures_by_code: dict[str, int] = field(default_factory=dict)
    recent_failures: list[FailedReply] = field(default_factory=list)

    @property
    def in_flight_by_arm(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for reply in self.in_flight:
            counts[reply.arm_id] = counts.get(reply.arm_id, 0) + 1
        return counts

    @property
    def stale(self) -> int:
        return sum(reply.stale for reply in self.in_flight)


def study_reply_monitor(*, study: Study, now: datetime | None = None) -> ReplyMonitor:
    """Four queries: replies streaming now, the window's replies by status, its errors by
    stored error, and its newest failures. Humans' chats only (a simulated patient's
    replies belong to its evaluation run's page)."""
    now = now or timezone.now()
    since = now - timedelta(minutes=WINDOW_MINUTES)
    newest = Subquery(Message.objects.order_by("-pk").values("pk")[:1])
    replies = Message.objects.filter(
        # The pilot's chats too: the endpoints serve them the same.
        humans_q("conversation__task__participant__", include_pilot=True),
        pk__gt=ExpressionWrapper(newest - MESSAGES_SCANNED, output_field=BigIntegerField()),
        pk__lte=newest,
        role=Message.Role.ASSISTANT,
        conversation__arm__study=study,
    ).order_by()
    stale_at = stale_before(now)
    in_flight = [
        InFlight(arm_id=arm_id, started_at=created, stale=(heartbeat or created) < stale_at)
        for arm_id, created, heartbeat in replies.filter(
            status=Message.Status.STREAMING
        ).values_list("conversation__arm_id", "created_at", "heartbeat_at")
    ]
    ended = replies.filter(completed_at__gte=since, completed_at__lte=now)
    by_status = dict(
        ended.filter(status__in=(Message.Status.COMPLETE, Message.Status.ERROR))
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    errors = ended.filter(status=Message.Status.ERROR)
    by_code: dict[str, int] = {}
    for error, n in errors.values_list("error").annotate(n=Count("pk")):
        code = error_code(error)
        by_code[code] = by_code.get(code, 0) + n
    recent = [
        FailedReply(
            at=at,
            arm_key=arm_key,
            endpoint=endpoint,
            code=error_code(error),
            participant_id=participant_id,
            position=position,
        )
        for at, arm_key, endpoint, error, participant_id, position in errors.order_by(
            "-completed_at"
        ).values_list(
            "completed_at",
            "conversation__arm__key",
            "conversation__endpoint__name",
            "error",
            "conversation__task__participant_id",
            "conversation__task__position",
        )[:RECENT_FAILURES]
    ]
    return ReplyMonitor(
        window_minutes=WINDOW_MINUTES,
        in_flight=sorted(in_flight, key=lambda r: r.started_at),
        completed=by_status.get(Message.Status.COMPLETE, 0),
        failed=by_status.get(Message.Status.ERROR, 0),
        failures_by_code=dict(sorted(by_code.items(), key=lambda item: -item[1])),
        recent_failures=recent,
    )
