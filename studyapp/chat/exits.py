"""The way out when the model keeps failing: "Leave the study: technical problem".

After the study's number of failed replies in a row (Study.technical_exit_after) the chat
offers it beside "Try again" (the frames' `technical_exit`); the server checks that count
again here before it ends the session. Unlike a withdrawal, everything is kept: the
participant leaves with the study's technical-problem code, counted apart in CONSORT.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from studyapp.chat.selectors import (
    conversation_for_task,
    conversation_snapshot,
    failures_in_a_row,
)
from studyapp.participation.models import Participant
from studyapp.participation.selectors import StepKind, participant_current_step
from studyapp.participation.transitions import participant_set_status

logger = logging.getLogger(__name__)

_NOT_OFFERED = _(
    "Leaving because of a technical problem is only possible after the assistant has "
    "failed to answer several times in a row. Please press “Try again” first."
)
_ENDED = _("This session has already ended. Thank you for your time.")


class TechnicalExitRefused(Exception):
    """The exit is not (or no longer) open to this participant; the message is for them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@transaction.atomic
def participant_technical_exit(*, participant_id: int) -> Participant:
    """End the session as `technical_problem`, if the current task's chat has failed the
    study's number of replies in a row (idempotent: a resent form changes nothing)."""
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("study", "arm")
        .get(pk=participant_id)
    )
    if participant.status == Participant.Status.TECHNICAL_PROBLEM:
        return participant
    if participant.status != Participant.Status.CONSENTED:
        raise TechnicalExitRefused(_ENDED)
    step = participant_current_step(participant)
    conversation = (
        conversation_for_task(task_id=step.task.pk)
        if step.kind == StepKind.CHAT and step.task is not None
        else None
    )
    if conversation is None:
        raise TechnicalExitRefused(_NOT_OFFERED)
    # The same reading as the chat's frames (a dead process's reply counts as interrupted).
    snapshot = conversation_snapshot(conversation_id=conversation.pk)
    if not snapshot.technical_exit:
        raise TechnicalExitRefused(_NOT_OFFERED)
    failures = failures_in_a_row(snapshot.messages)
    participant_set_status(
        participant=participant,
        to=Participant.Status.TECHNICAL_PROBLEM,
        reason=f"{failures} failed replies in a row (task {step.task.position})",
    )
    return participant
