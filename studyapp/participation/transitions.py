"""The one way a participant's status changes: `participant_set_status`.

It checks the change is allowed, writes the status and appends a ParticipantEvent
(from, to, time, reason, arm) in the caller's transaction, so the event log and the
status can never disagree. Callers hold the participant's row lock.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from studyapp.participation.models import Participant, ParticipantEvent

logger = logging.getLogger(__name__)

S = Participant.Status
K = ParticipantEvent.Kind

# Ended sessions may still be withdrawn (a request to delete one's data).
_ENDED = {
    S.COMPLETED,
    S.CONSENT_DECLINED,
    S.SCREENED_OUT,
    S.TIMED_OUT,
    S.FAILED_CHECK,
    S.STUDY_FULL,
    S.RETURNED,
    S.TECHNICAL_PROBLEM,
}
ALLOWED: dict[str, set[str]] = {
    S.STARTED: {
        S.CONSENTED,
        S.CONSENT_DECLINED,
        S.TIMED_OUT,
        S.STUDY_FULL,
        S.RETURNED,
        S.WITHDRAWN,
    },
    S.CONSENTED: {
        S.SCREENED_OUT,
        S.STUDY_FULL,
        S.FAILED_CHECK,
        S.COMPLETED,
        S.TIMED_OUT,
        S.RETURNED,
        S.WITHDRAWN,
        # Only from a chat whose model kept failing (chat.exits): consented, never before.
        S.TECHNICAL_PROBLEM,
    },
    **{status: {S.WITHDRAWN} for status in _ENDED},
}

_KIND_FOR = {
    S.CONSENTED: K.CONSENTED,
    S.CONSENT_DECLINED: K.DECLINED,
    S.SCREENED_OUT: K.SCREENED_OUT,
    S.STUDY_FULL: K.STUDY_FULL,
    S.FAILED_CHECK: K.FAILED_CHECK,
    S.COMPLETED: K.COMPLETED,
    S.TIMED_OUT: K.TIMED_OUT,
    S.WITHDRAWN: K.WITHDRAWN,
    S.RETURNED: K.RETURNED,
    S.TECHNICAL_PROBLEM: K.TECHNICAL_PROBLEM,
}


class TransitionError(Exception):
    """A status change the flow does not allow (a programming error, not the user's)."""


def participant_set_status(
    *,
    participant: Participant,
    to: str,
    reason: str = "",
    now: datetime | None = None,
    extra_fields: tuple[str, ...] = (),
    pid_digest: str = "",
) -> ParticipantEvent:
    """Move `participant` (locked by the caller) to status `to`, and record it.

    `extra_fields` are other fields the caller changed on the instance and wants saved
    in the same UPDATE.
    """
    now = now or timezone.now()
    before = participant.status
    if to not in ALLOWED.get(before, set()):
        raise TransitionError(f"participant {participant.pk}: {before} -> {to} is not allowed")
    participant.status = to
    fields = ["status", "updated_at", *extra_fields]
    if to == S.COMPLETED:
        participant.completed_at = now
        fields.append("completed_at")
    elif to == S.CONSENTED:
        participant.consented_at = now
        fields.append("consented_at")
    if to != S.WITHDRAWN:
        participant.save(update_fields=list(dict.fromkeys(fields)))
    event = ParticipantEvent.objects.create(
        study_id=participant.study_id,
        # A withdrawal event is anonymous from the start: the participant row is deleted
        # straight after, and the event must not be what keeps them identifiable.
        participant=None if to == S.WITHDRAWN else participant,
        arm_id=participant.arm_id,
        kind=_KIND_FOR[to],
        from_status=before,
        to_status=to,
        reason=reason[:100],
        pid_digest=pid_digest,
        is_pilot=participant.is_pilot,
        at=now,
    )
    logger.info("participant %s: %s -> %s (%s)", participant.pk, before, to, reason or "-")
    return event


def participant_record_entry(*, participant: Participant, now: datetime | None = None) -> None:
    """The first event of every participant: assessed for eligibility."""
    ParticipantEvent.objects.create(
        study_id=participant.study_id,
        participant=participant,
        kind=K.ENTERED,
        from_status="",
        to_status=participant.status,
        is_pilot=participant.is_pilot,
        at=now or timezone.now(),
    )


def participant_record_began(*, participant: Participant, now: datetime | None = None) -> None:
    """The participant reached their first task (CONSORT: received the intervention)."""
    ParticipantEvent.objects.create(
        study_id=participant.study_id,
        participant=participant,
        arm_id=participant.arm_id,
        kind=K.BEGAN,
        from_status=participant.status,
        to_status=participant.status,
        is_pilot=participant.is_pilot,
        at=now or timezone.now(),
    )
