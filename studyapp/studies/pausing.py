"""Pausing and resuming a live study or a pilot: the only writers of the live <-> paused
and pilot <-> paused pilot transitions outside the admin, each recorded in the study's
audit trail.

A paused study holds new participants at the door (participation.services raises
StudyPausedError, and the entry link shows a holding page) while everyone already inside
goes on to the end; resuming lets new participants in again. Resuming does not run the
launch checklist again (studies.launch): the study passed it when it went live, and the
live monitor and the study page show the endpoints' health as they are now.
"""

from __future__ import annotations

import logging

from django.db import transaction

from studyapp.studies.history import config_save
from studyapp.studies.models import Study

logger = logging.getLogger(__name__)


class PauseRefusedError(Exception):
    """The study is not in the status the change starts from; the message says why."""


# pause/resume -> {status it starts from: status it goes to}. A pilot pauses into its own
# paused status, so resuming returns to the pilot and those inside stay pilot participants.
TRANSITIONS = {
    "pause": {
        Study.Status.LIVE: Study.Status.PAUSED,
        Study.Status.PILOT: Study.Status.PILOT_PAUSED,
    },
    "resume": {
        Study.Status.PAUSED: Study.Status.LIVE,
        Study.Status.PILOT_PAUSED: Study.Status.PILOT,
    },
}


def _transition(*, study_id: int, user, action: str) -> Study:
    moves = TRANSITIONS[action]
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        if study.status not in moves:
            starts = " or ".join(Study.Status(origin).label.lower() for origin in moves)
            raise PauseRefusedError(
                f"The study is {study.get_status_display().lower()}, not {starts}: "
                "nothing was changed."
            )
        # Its history keeps it, and the entry on the study's chain is the pause or
        # resume itself, with who and the status before and after (audit.history).
        study.status = moves[study.status]
        config_save(study, fields=["status"], by=user, action=action)
    logger.info("study %s: %s by user %s", study.pk, action, getattr(user, "pk", None))
    return study


def study_pause(*, study_id: int, user) -> Study:
    """Live -> paused, pilot -> paused pilot: new participants are held at the entry
    link; those inside go on."""
    return _transition(study_id=study_id, user=user, action="pause")


def study_resume(*, study_id: int, user) -> Study:
    """Paused -> live, paused pilot -> pilot: the entry link enrols new participants
    again."""
    return _transition(study_id=study_id, user=user, action="resume")
