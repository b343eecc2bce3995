"""Who takes part, what they were assigned, and what they answered."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from studyapp.core.ids import new_secret_token
from studyapp.core.models import TimeStampedModel
from studyapp.studies.models import Arm, DispositionLevel, Scenario, Study


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

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="participants")
    # The secret in the participant's links; never shown to investigators in lists.
    token = models.CharField(max_length=64, unique=True, default=new_secret_token, editable=False)
    prolific_pid = models.CharField(max_length=64, blank=True)
    prolific_study_id = models.CharField(max_length=64, blank=True)
    prolific_session_id = models.CharField(max_length=64, blank=True)
    stratum = models.CharField(max_length=64, blank=True)
    arm = models.ForeignKey(
        Arm, on_delete=models.PROTECT, null=True, blank=True, related_name="participants"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.STARTED)
    instructions_read_at = models.DateTimeField(null=True, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

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


class Answer(TimeStampedModel):
    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="answer")
    disposition = models.ForeignKey(DispositionLevel, on_delete=models.PROTECT)
    conditions_text = models.TextField()
    # The free text split into a list (one entry per line / comma).
    conditions = models.JSONField(default=list)
    confidence = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(100)]
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
    scorer_version = models.CharField(max_length=40, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"answer to {self.task}"
