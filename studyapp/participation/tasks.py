"""Background jobs of the participation app. Each calls one service."""

from __future__ import annotations

from celery import shared_task

from studyapp.participation.enrolment import participants_expire_inactive
from studyapp.participation.prolific_sync import studies_sync_prolific


@shared_task(
    name="studyapp.participation.tasks.expire_inactive_participants_task",
    soft_time_limit=50,
    time_limit=60,
)
def expire_inactive_participants_task() -> int:
    """Time out participants inactive past their study's limit (scheduled every minute).

    Idempotent: each participant is re-checked under its row lock, so overlapping runs
    or a retry change nothing twice.
    """
    return participants_expire_inactive()


@shared_task(
    name="studyapp.participation.tasks.sync_prolific_task",
    soft_time_limit=240,
    time_limit=300,
)
def sync_prolific_task() -> int:
    """Bring every live Prolific study's participants in line with its submissions
    (participation.prolific_sync); scheduled. Idempotent: a repeat changes nothing."""
    return studies_sync_prolific()
