"""Who takes part, what they were assigned, and what they answered."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from studyapp.core.models import TimeStampedModel
from studyapp.participation.tokens import link_token, new_link_id
from studyapp.studies.models import Arm, DispositionLevel, Scenario, Study


class ParticipantQuerySet(models.QuerySet):
    def humans(self, *, include_pilot: bool = False) -> ParticipantQuerySet:
        """Real participants: everything about people (CONSORT, quotas, figures) uses this.
        Of the main phase only unless `include_pilot` (see humans_q)."""
        return self.filter(humans_q(include_pilot=include_pilot))

    def pilots(self) -> ParticipantQuerySet:
        """Real participants enrolled while the study was in its pilot."""
        return self.filter(humans_q(include_pilot=True), is_pilot=True)

    def previews(self) -> ParticipantQuerySet:
        """Investigators' previews of the participant's path (participation.preview)."""
        return self.filter(is_preview=True)

    def simulated(self) -> ParticipantQuerySet:
        """Simulated patients of evaluation runs (an LLM plays the patient)."""
        return self.filter(is_simulated=True)

    def began(self, *, study_has_check: bool) -> ParticipantQuerySet:
        """Participants who reached their tasks (selectors.participant_has_begun, in SQL)."""
        return self.filter(began_q(study_has_check=study_has_check))


def humans_q(prefix: str = "", *, include_pilot: bool = False) -> models.Q:
    """Real people, not simulated patients of evaluation runs nor investigators'
    previews (participation.preview), as a condition on
    Participant reached through `prefix` ("task__participant__" from an Answer,
    "conversation__task__participant__" from a chat Message...): every human figure
    (quotas, timeouts, CONSORT, study pages and reports, the dashboard, the "human"
    comparison) uses it, through a queryset's `humans()` / `of_humans()` where one exists.

    Participants of the study's pilot (`is_pilot`) are real people but not of the main
    analysis: left out unless `include_pilot` — an analyst's explicit choice on a page
    (`?pilot=include`), or what runs the study (timeouts, Prolific, the live monitor),
    which must see everyone it looks after."""
    q = models.Q(**{f"{prefix}is_simulated": False, f"{prefix}is_preview": False})
    if not include_pilot:
        q &= models.Q(**{f"{prefix}is_pilot": False})
    return q


def not_preview_q(prefix: str = "", *, include_pilot: bool = False) -> models.Q:
    """Anything but an investigator's preview: for what shows simulated patients beside
    people (the exports) but never a preview; nor the pilot's participants unless
    `include_pilot` (as humans_q)."""
    q = models.Q(**{f"{prefix}is_preview": False})
    if not include_pilot:
        q &= models.Q(**{f"{prefix}is_pilot": False})
    return q


def began_q(*, study_has_check: bool, prefix: str = "") -> models.Q:
    """Allocated, instructions read and, where the study has one, the check passed: the
    same rule as selectors.participant_has_begun, for a filter (`prefix`: "participant__"
    from a related model)."""
    q = models.Q(**{f"{prefix}arm__isnull": False, f"{prefix}instructions_read_at__isnull": False})
    if study_has_check:
        q &= models.Q(**{f"{prefix}check_passed_at__isnull": False})
    return q


class Participant(TimeStampedModel):
    class Status(models.TextChoices):
        STARTED = "started", "Started (not yet consented)"
        CONSENTED = "consented", "Consented"
        COMPLETED = "completed", "Completed"
        CONSENT_DECLINED = "consent_declined", "Declined consent"
        SCREENED_OUT = "screened_out", "Screened out"
        TIMED_OUT = "timed_out", "Timed out"
        WITHDRAWN = "withdrawn", "Withdrawn"
        RETURNED = "returned", "Returned"
        FAILED_CHECK = "failed_check", "Failed the attention check"
        STUDY_FULL = "study_full", "Study full"
        # The model kept failing and the participant took the exit offered after the
        # study's number of failed replies (chat.exits): their data is kept.
        TECHNICAL_PROBLEM = "technical_problem", "Left after a technical problem"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="participants")
    # The random half of the participant's link; the link itself (`token`) is this id
    # signed with SECRET_KEY and is never stored (participation.tokens). Never shown to
    # investigators either.
    link_id = models.CharField(max_length=64, unique=True, default=new_link_id, editable=False)
    prolific_pid = models.CharField(max_length=64, blank=True)
    prolific_study_id = models.CharField(max_length=64, blank=True)
    prolific_session_id = models.CharField(max_length=64, blank=True)
    stratum = models.CharField(max_length=64, blank=True)
    arm = models.ForeignKey(
        Arm, on_delete=models.PROTECT, null=True, blank=True, related_name="participants"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.STARTED)
    screening_answer = models.CharField(max_length=64, blank=True)
    check_failures = models.PositiveSmallIntegerField(default=0)
    check_passed_at = models.DateTimeField(null=True, blank=True)
    instructions_read_at = models.DateTimeField(null=True, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # The language they take part in: one of the study's, chosen at entry
    # (participation.language); every page and chat text is shown in it.
    language = models.CharField(max_length=16, default="en")
    # An LLM playing a patient in an evaluation run (evaluations.kinds.simulated): it
    # chats through the participants' chat services but is never allocated through the
    # ledger and never counts in quotas, CONSORT, timeouts or the human figures.
    is_simulated = models.BooleanField(default=False, db_index=True)
    # An investigator walking the participant's path (participation.preview): made on the
    # chosen arm and scenario without the ledger, so it takes no slot, and left out of
    # every figure, export, count and CONSORT (humans_q); its pages carry a banner.
    is_preview = models.BooleanField(default=False, db_index=True)
    # Enrolled while the study was in its pilot (Study.Status.PILOT): a real participant
    # through the real consent and allocation, labelled pilot wherever participants are
    # listed and left out of the main analysis unless asked for (humans_q). Set at entry;
    # one not yet randomised when the main phase starts is randomised in it and becomes
    # a main-phase participant (enrolment.participant_allocate).
    is_pilot = models.BooleanField(default=False, db_index=True)

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        ordering = ["study", "created_at"]
        constraints = [
            # One participant per Prolific PID per study: a returning PID resumes.
            models.UniqueConstraint(
                fields=["study", "prolific_pid"],
                condition=~models.Q(prolific_pid=""),
                name="participant_one_per_pid",
            ),
        ]
        indexes = [models.Index(fields=["study", "status"])]

    def __str__(self) -> str:
        return f"participant {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.STARTED, self.Status.CONSENTED)

    @property
    def token(self) -> str:
        """The signed value in this participant's links: the credential (never stored)."""
        return link_token(self.link_id)


class TaskQuerySet(models.QuerySet):
    def of_humans(self, *, include_pilot: bool = False) -> TaskQuerySet:
        """Tasks of real participants (humans_q)."""
        return self.filter(humans_q("participant__", include_pilot=include_pilot))


class Task(TimeStampedModel):
    """One assigned scenario for one participant, in order."""

    class Status(models.TextChoices):
        PENDING = "pending", "Not started"
        ACTIVE = "active", "Reading / chatting"
        ANSWERING = "answering", "Answering"
        DONE = "done", "Answered"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="tasks")
    scenario = models.ForeignKey(Scenario, on_delete=models.PROTECT, related_name="tasks")
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Control arm: the sources the participant says they used (paste is disabled).
    sources_text = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["participant", "position"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "position"], name="task_unique_pos"),
            models.UniqueConstraint(
                fields=["participant", "scenario"], name="task_unique_scenario"
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.position} of participant {self.participant_id}"


class AnswerQuerySet(models.QuerySet):
    def of_humans(self, *, include_pilot: bool = False) -> AnswerQuerySet:
        """Answers of real participants (humans_q)."""
        return self.filter(humans_q("task__participant__", include_pilot=include_pilot))


class Answer(TimeStampedModel):
    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="answer")
    disposition = models.ForeignKey(DispositionLevel, on_delete=models.PROTECT)
    conditions_text = models.TextField()
    # The free text split into a list (one entry per line / comma).
    conditions = models.JSONField(default=list)
    # Always set by participants (the form requires it); None only for a simulated
    # patient of an evaluation run that gave no confidence (never made up).
    confidence = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    # True: the participant set the confidence themselves (the form has no default and
    # requires it). None: not recorded — answers from before that rule, whose slider
    # started at 50 and could be sent untouched, and simulated patients.
    confidence_set = models.BooleanField(
        null=True,
        blank=True,
        help_text="The participant set the confidence themselves (no default was offered).",
    )
    # Scores, written with the answer (studyapp.scoring rules; re-scorable later).
    matched_conditions = models.JSONField(default=list, blank=True)
    matched_red_flags = models.JSONField(default=list, blank=True)
    conditions_correct = models.BooleanField(null=True, blank=True)
    disposition_outcome = models.CharField(
        max_length=10, blank=True, help_text="exact, over (more acute than gold) or under"
    )
    disposition_distance = models.SmallIntegerField(
        null=True, blank=True, help_text="answer acuity minus gold acuity"
    )
    # The language the participant answered in (their Participant.language then).
    language = models.CharField(max_length=16, default="en")
    scorer_version = models.CharField(max_length=40, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    objects = AnswerQuerySet.as_manager()

    def __str__(self) -> str:
        return f"answer to {self.task}"


class AllocationState(models.Model):
    """The per-study row that allocations lock, and the design frozen at the first one.

    Every allocation of a study takes this row FOR UPDATE, so concurrent consents are
    serialised and the ledger's sequence has no gaps and no duplicates. Holds no future
    allocation: the next arm is computed from the design when it is needed.
    """

    study = models.OneToOneField(
        Study, on_delete=models.PROTECT, primary_key=True, related_name="allocation_state"
    )
    last_sequence = models.PositiveIntegerField(default=0)
    # participation.allocation.Design.as_dict(), fixed when the first participant is
    # allocated: later edits to arms or weights cannot change the sequence.
    design = models.JSONField(null=True, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"allocation state of study {self.study_id}"


class LedgerImmutableError(Exception):
    """The allocation ledger is append-only."""


class Allocation(models.Model):
    """Append-only allocation ledger: one row per consumed slot of the sequence.

    A participant's row has outcome `assigned`. A slot whose arm had no room left (its
    quota met) is recorded as `arm_full` with no participant, and the sequence moves on,
    so the ledger stays gap-free and regenerable. Withdrawal deletes the participant; their
    row stays, anonymous (participant set to NULL): the only change the ledger allows.
    """

    class Outcome(models.TextChoices):
        ASSIGNED = "assigned", "Assigned to a participant"
        ARM_FULL = "arm_full", "Skipped: the arm was full"
        # The rest of a block the pilot left unfinished, used up when the main phase
        # starts (studies.launch), so the main phase begins at a block's first slot.
        PILOT_END = "pilot_end", "Skipped: the pilot's last block closed at launch"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="allocations")
    sequence = models.PositiveIntegerField(help_text="Study-wide, 1, 2, 3, ... without gaps.")
    stratum = models.CharField(max_length=64, blank=True)
    stratum_sequence = models.PositiveIntegerField()
    block = models.PositiveIntegerField()
    block_size = models.PositiveSmallIntegerField()
    block_position = models.PositiveSmallIntegerField()
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="allocations")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    participant = models.OneToOneField(
        "Participant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="allocation",
    )
    created_at = models.DateTimeField()
    # A slot used in the study's pilot (assigned to a pilot participant, or closed at
    # launch): the main phase's CONSORT and balance leave these out.
    is_pilot = models.BooleanField(default=False)

    class Meta:
        ordering = ["study", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["study", "sequence"], name="allocation_unique_seq"),
            models.UniqueConstraint(
                fields=["study", "stratum", "stratum_sequence"],
                name="allocation_unique_stratum_seq",
            ),
        ]

    def __str__(self) -> str:
        return f"allocation {self.sequence} of study {self.study_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise LedgerImmutableError("allocation ledger rows are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError("allocation ledger rows are never deleted")


class ParticipantEventQuerySet(models.QuerySet):
    def of_humans(self, *, include_pilot: bool = False) -> ParticipantEventQuerySet:
        """Events of real participants, withdrawn ones included: a withdrawal keeps the
        events without their participant, and a simulated patient never withdraws (its
        run's deletion takes its events with it). The pilot's only with `include_pilot`
        (the event's own `is_pilot` says it when the participant is gone)."""
        q = models.Q(participant__isnull=True) | humans_q(
            "participant__", include_pilot=include_pilot
        )
        if not include_pilot:
            q &= models.Q(is_pilot=False)
        return self.filter(q)


class ParticipantEvent(models.Model):
    """Every status change (and the start of the tasks), with its time and reason.

    Written only by participation.transitions. Kept, without the participant link, when a
    participant withdraws, so the CONSORT counts survive withdrawal.
    """

    class Kind(models.TextChoices):
        ENTERED = "entered", "Entered"
        CONSENTED = "consented", "Consented"
        DECLINED = "consent_declined", "Declined consent"
        SCREENED_OUT = "screened_out", "Screened out"
        STUDY_FULL = "study_full", "Study full"
        BEGAN = "began", "Began the tasks"
        FAILED_CHECK = "failed_check", "Failed the attention check"
        COMPLETED = "completed", "Completed"
        TIMED_OUT = "timed_out", "Timed out"
        WITHDRAWN = "withdrawn", "Withdrew consent"
        RETURNED = "returned", "Returned"
        TECHNICAL_PROBLEM = "technical_problem", "Left after a technical problem"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="participant_events")
    participant = models.ForeignKey(
        Participant, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, null=True, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=100, blank=True)
    # Withdrawal only: a keyed hash of the Prolific PID, so the same person is not
    # enrolled (and randomised) again, without keeping the PID itself.
    pid_digest = models.CharField(max_length=64, blank=True, db_index=True)
    # The participant's is_pilot when the event was written, kept when they withdraw (so a
    # pilot withdrawal never counts in the main CONSORT).
    is_pilot = models.BooleanField(default=False)
    at = models.DateTimeField()

    objects = ParticipantEventQuerySet.as_manager()

    class Meta:
        ordering = ["study", "at", "pk"]
        indexes = [models.Index(fields=["study", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"

    def clean(self) -> None:
        if self.kind == self.Kind.WITHDRAWN and self.participant_id:
            raise ValidationError("A withdrawal event must not point at the participant.")


class ClearedPilotPid(models.Model):
    """A pilot participant whose data was cleared at the launch (participation.pilot),
    kept only as the keyed hash of their Prolific PID (enrolment.pid_digest, as a
    withdrawal's): they took part in the pilot, so the main phase does not enrol them
    again, and nothing else of them is kept."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    pid_digest = models.CharField(max_length=64)
    cleared_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "pid_digest"], name="cleared_pilot_pid_once_per_study"
            )
        ]

    def __str__(self) -> str:
        return f"cleared pilot PID of study {self.study_id}"


class ProlificSync(models.Model):
    """A study's last sync with Prolific (participation.prolific_sync): what it read and
    when, so the Prolific page renders without asking Prolific. One row per study,
    replaced by each sync (the page's "Sync now" or the scheduled one). Submissions are
    kept without PIDs: each as its id, status, bonuses and the participant here it
    matched (their id, or null for a PID that never entered)."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="prolific_sync")
    synced_at = models.DateTimeField()
    # [{"id", "status", "participant": int | None, "bonus_cents": int}], as Prolific listed.
    submissions = models.JSONField(default=list)
    report = models.JSONField(default=dict)  # SyncReport.as_dict()

    def __str__(self) -> str:
        return f"Prolific sync of {self.study} at {self.synced_at:%Y-%m-%d %H:%M:%S}"
