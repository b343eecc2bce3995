"""Writes for participation. Every state change goes through a named function here."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from studyapp.participation.models import Task


@transaction.atomic
def task_start_answering(*, task_id: int) -> Task:
    """Move a task from reading/chatting to the answer form (idempotent)."""
    task = Task.objects.select_for_update().get(pk=task_id)
    if task.status in (Task.Status.PENDING, Task.Status.ACTIVE):
        task.status = Task.Status.ANSWERING
        task.started_at = task.started_at or timezone.now()
        task.save(update_fields=["status", "started_at", "updated_at"])
    return task
