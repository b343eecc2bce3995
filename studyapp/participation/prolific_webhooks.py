"""Prolific's webhooks: check the signature, then apply a submission's new status.

Prolific signs each hook request (https://docs.prolific.com/api-reference/webhooks/
verifying): ``X-Prolific-Request-Timestamp`` (UNIX seconds) and
``X-Prolific-Request-Signature`` = base64(HMAC-SHA256(secret, timestamp + body)), with the
workspace's secret (settings.PROLIFIC_WEBHOOK_SECRET). A request that fails the check, or
whose timestamp is more than MAX_SKEW_S away from now (a replay), changes nothing.

A `submission.status.change` is applied like one row of a sync (prolific_sync.submission_apply):
only an active session moves, to returned / timed out / screened out, so events arriving
out of order or twice cannot undo anything. Other event types are acknowledged and
ignored. The scheduled sync remains the backstop for a hook Prolific gave up on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass

from django.db.models import Q

from studyapp.participation import prolific_sync
from studyapp.participation.models import Participant
from studyapp.participation.prolific_api import SubmissionInfo

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Prolific-Request-Signature"
TIMESTAMP_HEADER = "X-Prolific-Request-Timestamp"
MAX_SKEW_S = 300
STATUS_EVENT = "submission.status.change"


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(
    *, secret: str, timestamp: str, body: bytes, given: str, now: float | None = None
) -> bool:
    """Whether the request is Prolific's and recent (pure but for the clock)."""
    if not secret or not timestamp or not given:
        return False
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - sent) > MAX_SKEW_S:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected.encode(), given.encode())


class BadEventError(ValueError):
    """A signed body that is not an event we can read."""


@dataclass(frozen=True)
class HookResult:
    applied: int  # participants whose status changed
    event_type: str


def webhook_apply(*, body: bytes) -> HookResult:
    """Apply one verified event (the caller checked the signature)."""
    try:
        event = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadEventError("not JSON") from exc
    if not isinstance(event, dict):
        raise BadEventError("not an object")
    kind = str(event.get("event_type", ""))
    if kind != STATUS_EVENT:
        return HookResult(0, kind)
    submission_id = str(event.get("resource_id") or "")
    status = str(event.get("status") or "")
    study_id = str(event.get("study_id") or "")
    pid = str(event.get("participant_id") or "")
    if not submission_id or not status:
        raise BadEventError("a status change without resource_id or status")
    # The submission id is the SESSION_ID of the entry link; the PID, when the event
    # carries it, finds a participant who opened the link without SESSION_ID.
    match = Q(prolific_session_id=submission_id)
    if pid:
        match |= Q(prolific_pid=pid)
    participants = Participant.objects.humans(include_pilot=True).filter(match)
    if study_id:
        participants = participants.filter(study__prolific_study_id=study_id)
    info = SubmissionInfo(id=submission_id, participant_id=pid, status=status)
    applied = 0
    for participant_id in participants.values_list("pk", flat=True):
        new, _ = prolific_sync.submission_apply(participant_id=participant_id, submission=info)
        applied += new is not None
    logger.info("prolific hook %s (%s): %d participants changed", kind, status, applied)
    return HookResult(applied, kind)
