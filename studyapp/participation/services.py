"""Writes for participation. Every state change goes through a named function here.

Each step is idempotent (a double click or a resent form changes nothing the second
time) and refuses steps taken out of order with a FlowError, whose message is safe to
show to the participant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from studyapp.participation.access import participant_may_resume
from studyapp.participation.conditions import parse_conditions
from studyapp.participation.enrolment import (
    AllocationConfigError,
    participant_allocate,
    pid_has_withdrawn,
    pid_was_in_cleared_pilot,
    study_has_room,
)
from studyapp.participation.language import study_language_for
from studyapp.participation.models import Answer, Participant, Task
from studyapp.participation.prolific import ProlificParams
from studyapp.participation.selectors import (
    StepKind,
    participant_current_step,
    participant_find_for_entry,
    participant_has_begun,
)
from studyapp.participation.transitions import (
    participant_record_began,
    participant_record_entry,
    participant_set_status,
)
from studyapp.questionnaires.flow import waits_after_answer
from studyapp.questionnaires.models import Questionnaire, Response
from studyapp.questionnaires.selectors import questionnaire_items, study_questionnaires
from studyapp.questionnaires.services import response_store
from studyapp.questionnaires.validation import answers_clean
from studyapp.scoring.answers import score_answer
from studyapp.scoring.conditions import SCORER_VERSION
from studyapp.studies.models import Arm, DispositionLevel, Scenario, Study

logger = logging.getLogger(__name__)

# last_seen_at is written at most this often per participant: one cheap UPDATE, not one
# per page view.
LAST_SEEN_RESOLUTION = timedelta(seconds=30)


class FlowError(Exception):
    """A step the participant cannot take now. The message is shown to them."""


class StudyNotOpenError(Exception):
    """A new participant tried to join a study that is not enrolling."""


class StudyPausedError(StudyNotOpenError):
    """The study is paused (studies.pausing): a new participant is held at the door, to
    come back later; nobody is created and no allocation slot is used."""


class StudyFullError(Exception):
    """A new participant arrived after the study's quotas were met."""


class AlreadyWithdrawnError(Exception):
    """This PID withdrew from the study; they are not enrolled (or randomised) again."""


class AlreadyTookPartError(Exception):
    """This PID took part in the study's pilot, whose data was cleared at launch; the main
    phase does not enrol them again."""


class ResumeRefusedError(Exception):
    """An entry link named a participant who has begun, from a browser that does not hold
    them and without their SESSION_ID: a PID is no password."""


# --- Entry ----------------------------------------------------------------------------


def participant_resume_for_entry(
    *, study: Study, params: ProlificParams, held_link_ids: Sequence[str] = ()
) -> Participant | None:
    """The existing participant an entry link resumes; None when it names nobody yet.

    Raises ResumeRefusedError when this browser may not have them
    (access.participant_may_resume).
    """
    existing = participant_find_for_entry(
        study=study, prolific_pid=params.pid, held_link_ids=held_link_ids
    )
    if existing is None or existing.is_preview:
        # An investigator's preview held by this browser is never what the study's link
        # resumes: the link enrols them as anyone else.
        return None
    if not participant_may_resume(
        existing, held_link_ids=held_link_ids, session_id=params.session_id
    ):
        logger.info("study %s: participant %s not resumed in a new browser", study.pk, existing.pk)
        raise ResumeRefusedError(study.slug)
    return existing


def participant_check_new_entry(*, study: Study, params: ProlificParams) -> None:
    """Raise the reason a new participant with these parameters could not enter now
    (StudyPausedError, StudyNotOpenError, AlreadyWithdrawnError, AlreadyTookPartError,
    StudyFullError); reads
    only, so the entry page can say it before anyone presses Start."""
    if study.is_paused:
        raise StudyPausedError(study.slug)
    if not study.is_enrolling:
        raise StudyNotOpenError(study.slug)
    if pid_has_withdrawn(study=study, prolific_pid=params.pid):
        raise AlreadyWithdrawnError(study.slug)
    if pid_was_in_cleared_pilot(study=study, prolific_pid=params.pid):
        raise AlreadyTookPartError(study.slug)
    if not study_has_room(study=study):
        raise StudyFullError(study.slug)


def participant_enter(
    *,
    study: Study,
    params: ProlificParams,
    held_link_ids: Sequence[str] = (),
    stratum: str = "",
    language: str = "",
) -> Participant:
    """The participant behind an entry link: resumed if known, created otherwise.

    A new participant takes `language` if the study offers it, else the study's first
    (participation.language); a resumed one keeps the language they started in.

    A known participant (same PID, or held by this browser) resumes even when the study
    has since been paused, closed or filled, so nobody is lost mid-way; only new
    participants need the study to be live and to have room. A PID that withdrew is not
    enrolled again. Who may resume is participant_resume_for_entry's rule.
    """
    existing = participant_resume_for_entry(
        study=study, params=params, held_link_ids=held_link_ids
    )
    if existing is not None:
        return existing
    participant_check_new_entry(study=study, params=params)
    try:
        # A savepoint: on PostgreSQL a failed INSERT must not poison an outer transaction.
        with transaction.atomic():
            participant = Participant.objects.create(
                study=study,
                prolific_pid=params.pid,
                prolific_study_id=params.study_id,
                prolific_session_id=params.session_id,
                stratum=stratum,
                language=study_language_for(languages=study.languages, requested=language),
                # Labelled for the analysis only: the pilot's pages are the study's own.
                is_pilot=study.is_pilot,
            )
            participant_record_entry(participant=participant)
    except IntegrityError:
        if not params.pid:
            raise
        # The same PID entered twice at once (double click, two tabs): the other request
        # created the participant first; resume theirs, never make a second one.
        logger.info("participant entry race on study %s resolved by re-reading", study.pk)
        return Participant.objects.get(study=study, prolific_pid=params.pid)
    logger.info("participant %s entered study %s", participant.pk, study.pk)
    return participant


def participant_mark_seen(*, participant_id: int, now: datetime | None = None) -> None:
    """Activity that is not a page view (a chat message) also keeps a participant from
    timing out."""
    Participant.objects.filter(pk=participant_id).update(last_seen_at=now or timezone.now())


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


_ALREADY_ENDED = _("This session has already ended. Thank you for your time.")


_NOT_READY = _("The study is not ready to start yet. Please try again later.")


def _allocate(participant: Participant) -> None:
    try:
        participant_allocate(participant=participant, now=timezone.now())
    except AllocationConfigError as exc:
        # A configuration error, not the participant's: say so plainly and log for staff.
        # The FlowError rolls the whole consent back, so they can try again later.
        logger.error("study %s cannot allocate: %s", participant.study_id, exc)
        raise FlowError(_NOT_READY) from exc


@transaction.atomic
def participant_consent(*, participant_id: int) -> Participant:
    """Agree to take part; without a screening question, allocate at once.

    Allocation (participation.enrolment) happens in this transaction, after the consent
    is recorded. The participant's row lock makes a double click (or two tabs) wait for
    the first allocation and then see it, so a participant is never randomised twice.
    """
    participant = _lock_participant(participant_id)
    if participant.status == Participant.Status.CONSENTED:
        return participant
    if participant.status == Participant.Status.CONSENT_DECLINED:
        raise FlowError(_("You chose not to take part in this study."))
    if participant.status != Participant.Status.STARTED:
        raise FlowError(_ALREADY_ENDED)
    participant_set_status(participant=participant, to=Participant.Status.CONSENTED)
    if not participant.study.has_screening:
        _allocate(participant)
    return participant


@transaction.atomic
def participant_decline(*, participant_id: int) -> Participant:
    participant = _lock_participant(participant_id)
    if participant.status == Participant.Status.CONSENT_DECLINED:
        return participant
    if participant.status == Participant.Status.CONSENTED:
        raise FlowError(_("You have already agreed to take part; your consent is recorded."))
    if participant.status != Participant.Status.STARTED:
        raise FlowError(_ALREADY_ENDED)
    participant_set_status(participant=participant, to=Participant.Status.CONSENT_DECLINED)
    return participant


@transaction.atomic
def participant_answer_screening(*, participant_id: int, value: str) -> Participant:
    """The screening answer: eligible ones are allocated (stratified by it if the study
    says so), the others are screened out. Asked once; a resent form changes nothing."""
    participant = _lock_participant(participant_id)
    study = participant.study
    if participant.arm_id is not None or participant.status == Participant.Status.SCREENED_OUT:
        return participant
    _require_consented(participant)
    if not study.has_screening:
        # The question was removed after this participant consented: nothing to ask.
        _allocate(participant)
        return participant
    option = next((o for o in study.screening_options if o.get("value") == value), None)
    if option is None:
        raise ValidationError({"answer": _("Please choose one of the options.")})
    participant.screening_answer = value
    if study.stratum_source == Study.StratumSource.SCREENING:
        participant.stratum = value
    participant.save(update_fields=["screening_answer", "stratum", "updated_at"])
    if not option.get("eligible"):
        participant_set_status(
            participant=participant, to=Participant.Status.SCREENED_OUT, reason="screening"
        )
        return participant
    _allocate(participant)
    return participant


@transaction.atomic
def participant_answer_check(*, participant_id: int, answer: str) -> bool:
    """The attention/comprehension check; True when passed. After the study's number of
    attempts, a wrong answer ends the session (failed_check)."""
    participant = _lock_participant(participant_id)
    study = participant.study
    if participant.check_passed_at is not None:
        return True
    _require_consented(participant)
    if participant.instructions_read_at is None or not study.has_check:
        raise FlowError(_NOT_YET)
    if answer not in study.check_options:
        raise ValidationError({"answer": _("Please choose one of the options.")})
    now = timezone.now()
    if answer == study.check_answer:
        participant.check_passed_at = now
        participant.save(update_fields=["check_passed_at", "updated_at"])
        participant_record_began(participant=participant, now=now)
        return True
    participant.check_failures += 1
    if participant.check_failures >= study.check_attempts:
        participant_set_status(
            participant=participant,
            to=Participant.Status.FAILED_CHECK,
            reason=f"{participant.check_failures} wrong answer(s)",
            now=now,
            extra_fields=("check_failures",),
        )
    else:
        participant.save(update_fields=["check_failures", "updated_at"])
    return False


def _require_consented(participant: Participant) -> None:
    if participant.status == Participant.Status.STARTED:
        raise FlowError(_("Please answer the consent question first."))
    if participant.status == Participant.Status.CONSENT_DECLINED:
        raise FlowError(_("You chose not to take part in this study."))
    if participant.status == Participant.Status.COMPLETED:
        raise FlowError(_("You have already finished the study. Thank you!"))
    if participant.status != Participant.Status.CONSENTED:
        raise FlowError(_ALREADY_ENDED)


@transaction.atomic
def participant_read_instructions(*, participant_id: int) -> Participant:
    participant = _lock_participant(participant_id)
    if participant.instructions_read_at is not None:
        return participant
    _require_consented(participant)
    if participant.arm_id is None:
        raise FlowError(_("Please answer the question before the instructions first."))
    now = timezone.now()
    participant.instructions_read_at = now
    participant.save(update_fields=["instructions_read_at", "updated_at"])
    if not participant.study.has_check:
        participant_record_began(participant=participant, now=now)
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


_NOT_YET = _("Please finish the earlier steps first.")


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
    if not participant_has_begun(participant) or not is_current:
        raise FlowError(_NOT_YET)
    if participant.arm is None or participant.arm.kind != Arm.Kind.CONTROL:
        raise FlowError(_("This step is not part of your study."))
    text = sources_text.strip()
    if not text:
        raise ValidationError({"sources_text": _("Please describe the sources you used.")})
    if len(text) > SOURCES_MAX_CHARS:
        raise ValidationError({"sources_text": _("Please keep this shorter.")})
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
    confidence: int | None,
    confidence_set: bool | None = None,
) -> Answer:
    """Store the answer, close the task, open the next one or complete the participant.

    All in one transaction under the participant's row lock: a double submit waits,
    then finds the task done and gets the first answer back (never a second one).
    A confidence of None means "not given": only a simulated patient that gave none.
    `confidence_set` is True when the participant set it on a form without a default.
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
        raise ValidationError({"disposition": _("Please choose one of the options.")})
    text = conditions_text.strip()
    conditions = parse_conditions(text)
    if not conditions:
        raise ValidationError({"conditions_text": _("Please answer this question in words.")})
    if len(text) > CONDITIONS_MAX_CHARS:
        raise ValidationError({"conditions_text": _("Please keep this shorter.")})
    answer = Answer(
        task=task,
        disposition=level,
        conditions_text=text,
        conditions=conditions,
        confidence=confidence,
        confidence_set=confidence_set,
        language=participant.language,
    )
    now = timezone.now()
    # Scored as it arrives, in this transaction: the dashboards never wait for a batch.
    answer_apply_score(answer=answer, scenario=task.scenario, now=now)
    answer.full_clean()
    answer.save()

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
    # Simulated patients (evaluations) answer no questionnaires: they complete as before.
    questionnaires = (
        [] if participant.is_simulated else study_questionnaires(study_id=participant.study_id)
    )
    if waits_after_answer(questionnaires, last_task=following is None):
        # A questionnaire comes first; questionnaire_submit moves them on after it.
        pass
    elif following is not None:
        _task_activate(following, now)
    else:
        participant_set_status(participant=participant, to=Participant.Status.COMPLETED, now=now)
    logger.info("task %s answered (%d chars)", task.pk, len(text))
    return answer


def _task_activate(task: Task, now: datetime) -> None:
    if task.status == Task.Status.PENDING:
        task.status = Task.Status.ACTIVE
        task.started_at = task.started_at or now
        task.save(update_fields=["status", "started_at", "updated_at"])


# --- Questionnaires -------------------------------------------------------------------


@transaction.atomic
def questionnaire_submit(
    *, participant_id: int, questionnaire_id: int, raw: Mapping[str, Sequence[str]]
) -> Response:
    """Store the answers to the questionnaire the participant is on, then move them on
    (the next task starts, or they complete), all in one transaction under their row
    lock. A resent form (double click, back button) gets the first response back.
    Raises ValidationError {item key: message} for answers that cannot be stored."""
    participant = _lock_participant(participant_id)
    answered = Response.objects.filter(
        participant=participant, questionnaire_id=questionnaire_id
    ).order_by("-pk")
    step = participant_current_step(participant)
    if step.kind != StepKind.QUESTIONNAIRE or step.questionnaire_id != questionnaire_id:
        previous = answered.first()
        if previous is not None:
            return previous
        _require_consented(participant)
        raise FlowError(_NOT_YET)
    questionnaire = Questionnaire.objects.get(pk=questionnaire_id)
    items = questionnaire_items(questionnaire=questionnaire)
    cleaned = answers_clean([item.spec() for item in items], raw)
    if not cleaned.is_valid:
        raise ValidationError(cleaned.errors)
    response = response_store(
        participant=participant,
        questionnaire=questionnaire,
        task=step.questionnaire_task,
        items=items,
        values=cleaned.values,
    )
    after = participant_current_step(participant)
    now = timezone.now()
    if after.kind in (StepKind.CHAT, StepKind.SOURCES) and after.task is not None:
        _task_activate(after.task, now)
    elif after.kind == StepKind.COMPLETE:
        participant_set_status(participant=participant, to=Participant.Status.COMPLETED, now=now)
    return response


# --- Scores ---------------------------------------------------------------------------

_SCORE_FIELDS = [
    "matched_conditions",
    "matched_red_flags",
    "conditions_correct",
    "disposition_outcome",
    "disposition_distance",
    "scorer_version",
    "scored_at",
]


def answer_apply_score(*, answer: Answer, scenario: Scenario, now=None) -> Answer:
    """Set the answer's score fields from the scenario's gold standard (does not save).

    `answer.disposition` and `scenario.gold_disposition` must be loaded or loadable.
    """
    score = score_answer(
        conditions_text=answer.conditions_text,
        answer_value=answer.disposition.value,
        gold_value=scenario.gold_disposition.value,
        gold_conditions=scenario.gold_conditions,
        red_flags=scenario.red_flags,
        synonyms=scenario.condition_synonyms,
    )
    answer.matched_conditions = score.matched_conditions
    answer.matched_red_flags = score.matched_red_flags
    answer.conditions_correct = score.conditions_correct
    answer.disposition_outcome = score.disposition_outcome or ""
    answer.disposition_distance = score.disposition_distance
    answer.scorer_version = score.scorer_version
    answer.scored_at = now or timezone.now()
    return answer


RESCORE_CHUNK = 500


def answers_rescore(*, study: Study, force: bool = False) -> int:
    """Score again the study's answers scored by another scorer version (or all: force).

    For after a change of the scoring rules or of a scenario's synonyms. Chunked, one
    transaction per chunk; answer text and choices are never touched, only scores, and
    a score a person corrected (analysis.corrections) keeps its latest correction.
    """
    answers = Answer.objects.filter(task__participant__study=study)
    if not force:
        answers = answers.exclude(scorer_version=SCORER_VERSION)
    ids = list(answers.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), RESCORE_CHUNK):
        with transaction.atomic():
            chunk = list(
                Answer.objects.filter(pk__in=ids[start : start + RESCORE_CHUNK])
                .select_related("disposition", "task__scenario__gold_disposition")
                .order_by("pk")
            )
            now = timezone.now()
            for answer in chunk:
                answer_apply_score(answer=answer, scenario=answer.task.scenario, now=now)
            # A person's correction of a score outlives the scorer's new value (the
            # automatic one stays re-derivable by scoring again).
            from studyapp.analysis.corrections import corrections_reapply

            corrections_reapply(chunk)
            Answer.objects.bulk_update(chunk, _SCORE_FIELDS)
    logger.info("rescored %d answers of study %s", len(ids), study.pk)
    return len(ids)
