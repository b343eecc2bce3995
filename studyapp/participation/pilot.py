"""The pilot's participants when the main phase starts: kept (labelled, out of the main
analysis unless asked for) or cleared, by the investigator's explicit choice at launch
(studies.launch.study_launch, in its transaction).

Clearing deletes, in one transaction, every pilot participant who was randomised or whose
session ended, with everything they gave (tasks, answers, chats, questionnaires: the
same cascade as a withdrawal) and their events, anonymous pilot withdrawals included, so
nothing of the pilot is left to count in CONSORT. Their ledger rows stay, without a
participant (as a withdrawal's), marked `is_pilot`: the allocation sequence stays
verifiable from the seed. Their Prolific PIDs stay only as keyed hashes
(ClearedPilotPid), so the main phase's link does not enrol them again: they have seen the
scenarios (a kept pilot participant resumes their own ended session instead). Those still
on the consent page, not randomised, are not
deleted (their link would break in their hands): randomised after the launch, they are
the main phase's (enrolment.participant_allocate). Clearing is refused while a pilot
participant is still doing their tasks: wait for them, or keep the pilot's data.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from django.db.models import Q
from django.utils import timezone

from studyapp.participation.enrolment import ACTIVE_STATUSES, pid_digest
from studyapp.participation.models import (
    Answer,
    ClearedPilotPid,
    Participant,
    ParticipantEvent,
    Task,
)
from studyapp.studies.models import Study

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PilotCounts:
    participants: int = 0
    tasks: int = 0
    answers: int = 0
    events: int = 0
    # Of the participants, those with a Prolific PID: kept as digests when cleared.
    prolific_ids: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _clearable_q() -> Q:
    # Randomised, or ended without being randomised (declined, screened out, timed out).
    return Q(arm__isnull=False) | ~Q(status__in=ACTIVE_STATUSES)


def pilot_participants_in_progress(*, study: Study) -> int:
    """Pilot participants randomised and still doing their tasks: clearing would take
    their session from under them."""
    return (
        Participant.objects.pilots()
        .filter(study=study, arm__isnull=False, status=Participant.Status.CONSENTED)
        .count()
    )


def pilot_counts(*, study: Study) -> PilotCounts:
    """What clearing the pilot would delete now."""
    participants = Participant.objects.pilots().filter(_clearable_q(), study=study)
    return PilotCounts(
        participants=participants.count(),
        tasks=Task.objects.filter(participant__in=participants).count(),
        answers=Answer.objects.filter(task__participant__in=participants).count(),
        events=ParticipantEvent.objects.filter(
            Q(participant__in=participants) | Q(participant__isnull=True),
            study=study,
            is_pilot=True,
        ).count(),
        prolific_ids=participants.exclude(prolific_pid="").count(),
    )


def pilot_data_clear(*, study: Study) -> PilotCounts:
    """Delete the pilot's participants and their data (the caller's transaction, under
    the study's row lock); returns what was deleted. Raises PilotInProgressError while
    one is still doing their tasks."""
    in_progress = pilot_participants_in_progress(study=study)
    if in_progress:
        raise PilotInProgressError(in_progress)
    counts = pilot_counts(study=study)
    participants = Participant.objects.pilots().filter(_clearable_q(), study=study)
    ids = list(participants.values_list("pk", flat=True))
    # They took part: only a keyed hash of each PID stays, so the main phase's link does
    # not enrol them again (services.participant_check_new_entry).
    now = timezone.now()
    ClearedPilotPid.objects.bulk_create(
        [
            ClearedPilotPid(
                study=study,
                pid_digest=pid_digest(study_id=study.pk, prolific_pid=pid),
                cleared_at=now,
            )
            for pid in participants.exclude(prolific_pid="").values_list("prolific_pid", flat=True)
        ],
        ignore_conflicts=True,
    )
    ParticipantEvent.objects.filter(
        Q(participant_id__in=ids) | Q(participant__isnull=True), study=study, is_pilot=True
    ).delete()
    # The cascade of a withdrawal (tasks, answers, chats, questionnaires); the ledger
    # rows lose their participant, the one change the append-only ledger allows.
    Participant.objects.filter(pk__in=ids).delete()
    logger.info("study %s: pilot cleared (%s)", study.pk, counts.as_dict())
    return counts


class PilotInProgressError(Exception):
    def __init__(self, n: int) -> None:
        super().__init__(f"{n} pilot participant(s) are still doing their tasks")
        self.n = n
