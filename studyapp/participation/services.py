"""Writes for participation. Every state change goes through a named function here.

Each step is idempotent (a double click or a resent form changes nothing the second
time) and refuses steps taken out of order with a FlowError, whose message is safe to
show to the participant.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Sequence
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from studyapp.participation.allocation import choose_arm
from studyapp.participation.conditions import parse_conditions
from studyapp.participation.models import Answer, Participant, Task
from studyapp.participation.prolific import ProlificParams
from studyapp.participation.selectors import participant_find_for_entry
from studyapp.studies.models import Arm, DispositionLevel, Scenario, Study

logger = logging.getLogger(__name__)

# last_seen_at is written at most this often per participant: one cheap UPDATE, not one
# per page view.
LAST_SEEN_RESOLUTION = timedelta(seconds=30)


class FlowError(Exception):
    """A step the participant cannot take now. The message is shown to them."""


class StudyNotOpenError(Exception):
    """A new participant tried to join a study that is not enrolling."""


def _system_rng() -> random.Random:
    # OS entropy: nobody can predict the next arm. The allocation issue replaces this
    # with a seeded, recorded sequence.
    return secrets.SystemRandom()


# --- Entry ----------------------------------------------------------------------------


def participant_enter(
    *, study: Study, params: ProlificParams, session_tokens: Sequence[str] = ()
) -> Participant:
    """The participant behind an entry link: resumed if known, created otherwise.

    A known participant (same PID, or held by this browser) resumes even when the study
    has since been paused or closed, so nobody is lost mid-way; only new participants
    need the study to be live.
    """
    existing = participant_find_for_entry(
        study=study, prolific_pid=params.pid, session_tokens=session_tokens
    )
    if existing is not None:
        return existing
    if not study.is_enrolling:
        raise StudyNotOpenError(study.slug)
    try:
        # A savepoint: on PostgreSQL a failed INSERT must not poison an outer transaction.
        with transaction.atomic():
            participant = Participant.objects.create(
                study=study,
                prolific_pid=params.pid,
                prolific_study_id=params.study_id,
                prolific_session_id=params.session_id,
            )
    except IntegrityError:
        if not params.pid:
            raise
        # The same PID entered twice at once (double click, two tabs): the other request
        # created the participant first; resume theirs, never make a second one.
        logger.info("participant entry race on study %s resolved by re-reading", study.pk)
        return Participant.objects.get(study=study, prolific_pid=params.pid)
    logger.info("participant %s entered study %s", participant.pk, study.pk)
    return participant


def participant_touch(*, participant: Participant) -> None:
    """Record that the participant was seen (coarse, so it costs at most one UPDATE)."""
    now = timezone.now()
    if participant.last_seen_at and now - participant.last_seen_at < LAST_SEEN_RESOLUTION:
        return
    # update() leaves updated_at alone: being seen is not a change of state.
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=now)
    participant.last_seen_at = now


# --- Consent and instructions ---------------------------------------------------------


def _lock_participant(participant_id: int) -> Participant:
    # of=("self",) locks only the participant row, not the joined study or arm.
    return (
        Participant.objects.select_for_update(of=("self",))
        .select_related("study", "arm")
        .get(pk=participant_id)
    )


_ALREADY_ENDED = "This session has already ended. Thank you for your time."


@transaction.atomic
def participant_consent(*, participant_id: int, rng: random.Random | None = None) -> Participant:
    """Agree to take part: allocate an arm and assign the scenarios, exactly once.

    The row lock makes a double click (or two tabs) wait for the first allocation and
    then see it, so a participant is never randomised twice.
    """
    participant = _lock_participant(participant_id)
    if participant.status == Participant.Status.CONSENTED:
        return participant
    if participant.status == Participant.Status.CONSENT_DECLINED:
        raise FlowError("You chose not to take part in this study.")
    if participant.status != Participant.Status.STARTED:
        raise FlowError(_ALREADY_ENDED)

    study = participant.study
    rng = rng or _system_rng()
    arms = list(Arm.objects.filter(study=study).order_by("key", "pk"))
    scenarios = list(Scenario.objects.filter(study=study).active().order_by("key", "pk"))
    k = study.scenarios_per_participant
    if not arms or len(scenarios) < k:
        # A configuration error, not the participant's: say so plainly and log for staff.
        logger.error(
            "study %s cannot allocate: %d arms, %d active scenarios, %d needed",
            study.pk,
            len(arms),
            len(scenarios),
            k,
        )
        raise FlowError("The study is not ready to start yet. Please try again later.")

    arm = arms[choose_arm([a.weight for a in arms], rng)]
    assigned = rng.sample(scenarios, k)
    now = timezone.now()
    Task.objects.bulk_create(
        [
            Task(
                participant=participant,
                scenario=scenario,
                position=position,
                status=Task.Status.ACTIVE if position == 1 else Task.Status.PENDING,
                started_at=now if position == 1 else None,
            )
            for position, scenario in enumerate(assigned, start=1)
        ]
    )
    participant.arm = arm
    participant.status = Participant.Status.CONSENTED
    participant.consented_at = now
    participant.save(update_fields=["arm", "status", "consented_at", "updated_at"])
    logger.info("participant %s consented; arm %s; %d tasks", participant.pk, arm.pk, k)
    return participant


@transaction.atomic
def participant_decline(*, participant_id: int) -> Participant:
    participant = _lock_participant(participant_id)
    if participant.status == Participant.Status.CONSENT_DECLINED:
        return participant
    if participant.status == Participant.Status.CONSENTED:
        raise FlowError("You have already agreed to take part; your consent is recorded.")
    if participant.status != Participant.Status.STARTED:
        raise FlowError(_ALREADY_ENDED)
    participant.status = Participant.Status.CONSENT_DECLINED
    participant.save(update_fields=["status", "updated_at"])
    logger.info("participant %s declined consent", participant.pk)
    return participant


def _require_consented(participant: Participant) -> None:
    if participant.status == Participant.Status.STARTED:
        raise FlowError("Please answer the consent question first.")
    if participant.status == Participant.Status.CONSENT_DECLINED:
        raise FlowError("You chose not to take part in this study.")
    if participant.status == Participant.Status.COMPLETED:
        raise FlowError("You have already finished the study. Thank you!")
    if participant.status != Participant.Status.CONSENTED:
        raise FlowError(_ALREADY_ENDED)


@transaction.atomic
def participant_read_instructions(*, participant_id: int) -> Participant:
    participant = _lock_participant(participant_id)
    if participant.instructions_read_at is not None:
        return participant
    _require_consented(participant)
    participant.instructions_read_at = timezone.now()
    participant.save(update_fields=["instructions_read_at", "updated_at"])
    return participant


# --- Tasks ----------------------------------------------------------------------------


def _lock_current_task(participant: Participant, position: int) -> tuple[Task, bool]:
    """The task at `position`, locked, and whether it is the participant's current one.

    Raises Task.DoesNotExist for a position this participant does not have.
    """
    task = (
        Task.objects.select_for_update(of=("self",))
        .select_related("scenario")
        .get(participant=participant, position=position)
    )
    earlier_open = (
        Task.objects.filter(participant=participant, position__lt=position)
        .exclude(status=Task.Status.DONE)
        .exists()
    )
    return task, not earlier_open


_NOT_YET = "Please finish the earlier steps first."


@transaction.atomic
def task_start_answering(*, task_id: int) -> Task:
    """Move a task from reading/chatting to the answer form (idempotent)."""
    task = Task.objects.select_for_update().get(pk=task_id)
    if task.status in (Task.Status.PENDING, Task.Status.ACTIVE):
        task.status = Task.Status.ANSWERING
        task.started_at = task.started_at or timezone.now()
        task.save(update_fields=["status", "started_at", "updated_at"])
    return task


SOURCES_MAX_CHARS = 2000
CONDITIONS_MAX_CHARS = 2000


@transaction.atomic
def task_save_sources(*, participant_id: int, position: int, sources_text: str) -> Task:
    """Control arm: record the sources used, then open the questions."""
    participant = _lock_participant(participant_id)
    task, is_current = _lock_current_task(participant, position)
    if task.status in (Task.Status.ANSWERING, Task.Status.DONE):
        return task  # a resent form: the first one counted
    _require_consented(participant)
    if participant.instructions_read_at is None or not is_current:
        raise FlowError(_NOT_YET)
    if participant.arm is None or participant.arm.kind != Arm.Kind.CONTROL:
        raise FlowError("This step is not part of your study.")
    text = sources_text.strip()
    if not text:
        raise ValidationError({"sources_text": "Please describe the sources you used."})
    if len(text) > SOURCES_MAX_CHARS:
        raise ValidationError({"sources_text": "Please keep this shorter."})
    task.sources_text = text
    task.status = Task.Status.ANSWERING
    task.started_at = task.started_at or timezone.now()
    task.save(update_fields=["sources_text", "status", "started_at", "updated_at"])
    logger.info("task %s sources saved (%d chars)", task.pk, len(text))
    return task


@transaction.atomic
def answer_submit(
    *,
    participant_id: int,
    position: int,
    disposition_id: int,
    conditions_text: str,
    confidence: int,
) -> Answer:
    """Store the answer, close the task, open the next one or complete the participant.

    All in one transaction under the participant's row lock: a double submit waits,
    then finds the task done and gets the first answer back (never a second one).
    """
    participant = _lock_participant(participant_id)
    task, is_current = _lock_current_task(participant, position)
    if task.status == Task.Status.DONE:
        return Answer.objects.get(task=task)
    _require_consented(participant)
    if not is_current or task.status != Task.Status.ANSWERING:
        raise FlowError(_NOT_YET)
    level = DispositionLevel.objects.filter(
        pk=disposition_id, scale_id=participant.study.disposition_scale_id
    ).first()
    if level is None:
        raise ValidationError({"disposition": "Please choose one of the options."})
    text = conditions_text.strip()
    conditions = parse_conditions(text)
    if not conditions:
        raise ValidationError({"conditions_text": "Please answer this question in words."})
    if len(text) > CONDITIONS_MAX_CHARS:
        raise ValidationError({"conditions_text": "Please keep this shorter."})
    answer = Answer(
        task=task,
        disposition=level,
        conditions_text=text,
        conditions=conditions,
        confidence=confidence,
    )
    answer.full_clean()
    answer.save()

    now = timezone.now()
    task.status = Task.Status.DONE
    task.finished_at = now
    task.save(update_fields=["status", "finished_at", "updated_at"])

    following = (
        Task.objects.select_for_update(of=("self",))
        .filter(participant=participant, position__gt=position)
        .exclude(status=Task.Status.DONE)
        .order_by("position")
        .first()
    )
    if following is not None:
        if following.status == Task.Status.PENDING:
            following.status = Task.Status.ACTIVE
            following.started_at = following.started_at or now
            following.save(update_fields=["status", "started_at", "updated_at"])
    else:
        participant.status = Participant.Status.COMPLETED
        participant.completed_at = now
        participant.save(update_fields=["status", "completed_at", "updated_at"])
        logger.info("participant %s completed", participant.pk)
    logger.info("task %s answered (%d chars)", task.pk, len(text))
    return answer
