"""Background jobs of the chat app. Each calls one service."""

from __future__ import annotations

from celery import shared_task

from studyapp.chat.services import recover_stale_replies


@shared_task(
    name="studyapp.chat.tasks.recover_stale_replies_task", soft_time_limit=30, time_limit=60
)
def recover_stale_replies_task() -> int:
    """Mark replies left streaming by a dead process as interrupted (scheduled every minute)."""
    return recover_stale_replies()
