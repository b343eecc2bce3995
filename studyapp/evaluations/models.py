"""Runs without human participants: model-alone baselines, simulated participants, MCQ
and multi-turn robustness runs, and results imported from published studies.

A run is one configuration (one model, one prompt set, one kind) and its progress; an
item is one scored unit of it: one scenario repetition, one MCQ question, one turn of a
multi-turn probe. Items are unique per (run, item_key, repetition, turn), so a chunked
job that is retried, or an import that is re-run, updates rows instead of adding them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from studyapp.core.models import TimeStampedModel
from studyapp.evaluations.science.prompts import MODEL_ALONE_PARTS, model_alone_template_problems
from studyapp.studies.models import Arm, DispositionLevel, ModelEndpoint, Scenario, Study


class EvaluationRun(TimeStampedModel):
    class Kind(models.TextChoices):
        MODEL_ALONE = "model_alone", "Model alone (baseline)"
        SIMULATED = "simulated", "Simulated participants"
        MCQ = "mcq", "Multiple-choice questions"
        ROBUSTNESS = "robustness", "Multi-turn robustness"
        RUBRIC = "rubric", "Rubric grading"
        IMPORTED = "imported", "Imported results"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="evaluation_runs")
    # Stable name within the study ("helpmed-gpt-4o"): re-running an import or a job
    # finds the same run.
    key = models.SlugField(max_length=100)
    # Published results imported from files keep the kind they have (HELPMed's model
    # answers are "model_alone", with `source` naming the file); "imported" is for
    # results that fit no other kind.
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The model as the results name it ("GPT 4o"); with an endpoint, its model name.
    model_label = models.CharField(max_length=200, blank=True)
    endpoint = models.ForeignKey(
        ModelEndpoint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="evaluation_runs",
    )
    # The arm whose configuration (system prompt, sampling) the run reuses, if any:
    # model-alone results are shown next to that arm's participants.
    arm = models.ForeignKey(
        Arm, on_delete=models.PROTECT, null=True, blank=True, related_name="evaluation_runs"
    )
    # Everything needed to repeat the run: prompts or templates, sampling parameters,
    # repetitions, scenario keys, intervention templates, chunk size...
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    items_failed = models.PositiveIntegerField(default=0)
    # Where results came from: a file name and checksum for imports, a job id otherwise.
    source = models.CharField(max_length=300, blank=True)
    provenance = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "key"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="evaluation_run_unique_key"),
        ]
        indexes = [models.Index(fields=["study", "status"])]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.key} ({self.kind}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (
            self.Status.SUCCEEDED,
            self.Status.FAILED,
            self.Status.CANCELLED,
        )


class EvaluationItem(TimeStampedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="items")
    scenario = models.ForeignKey(
        Scenario,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="evaluation_items",
    )
    # What the item is within the run: a scenario key, an MCQ question id, a source row.
    item_key = models.CharField(max_length=200)
    repetition = models.PositiveIntegerField(default=0)
    # 0 for single-turn items; 1, 2, ... for follow-ups of a multi-turn probe.
    turn = models.PositiveSmallIntegerField(default=0)
    # Simulated runs: the simulated participant's task, whose conversation went through
    # the participants' chat services (its messages are the transcript of record).
    # Rubric runs: the task graded (a participant's or a simulated one). The item goes
    # with the task: a rubric item holds the chat's text in its prompt, which must not
    # outlive a participant's withdrawal.
    task = models.ForeignKey(
        "participation.Task",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="evaluation_items",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The messages sent ([{"role": ..., "content": ...}]), so the item can be re-asked.
    prompt = models.JSONField(default=list, blank=True)
    response = models.TextField(blank=True)
    # What was read out of the response: {"disposition": "A&E", "conditions_text": ...,
    # "answer": "B"}; kept apart from the scores so a parser change can be re-run.
    parsed = models.JSONField(default=dict, blank=True)
    disposition = models.ForeignKey(
        DispositionLevel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    disposition_outcome = models.CharField(
        max_length=10, blank=True, help_text="exact, over (more acute than gold) or under"
    )
    disposition_distance = models.SmallIntegerField(null=True, blank=True)
    matched_conditions = models.JSONField(default=list, blank=True)
    matched_red_flags = models.JSONField(default=list, blank=True)
    conditions_correct = models.BooleanField(null=True, blank=True)
    # MCQ and robustness items: the chosen option is the gold one.
    correct = models.BooleanField(null=True, blank=True)
    scorer_version = models.CharField(max_length=40, blank=True)
    error = models.CharField(max_length=200, blank=True)
    time_to_first_token_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=30, blank=True)

    class Meta:
        ordering = ["run", "item_key", "repetition", "turn"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "item_key", "repetition", "turn"],
                name="evaluation_item_unique_unit",
            ),
        ]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"item {self.item_key}#{self.repetition}/{self.turn} of run {self.run_id}"


class EvaluationChunk(TimeStampedModel):
    """One queued piece of a run: a contiguous range of item ids covering whole units.

    A worker claims a chunk before it asks anything and renews the claim (heartbeat_at)
    while it works. A second delivery of the same chunk therefore waits instead of asking
    the model twice, and a chunk whose worker died (no heartbeat for
    EVALUATION_CHUNK_LEASE_S) is claimed again by the next delivery or queued again by the
    periodic sweep, whatever the broker (the embedded filesystem broker never redelivers).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="chunks")
    first_item_id = models.BigIntegerField()
    last_item_id = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # A random token per claim: only the holder's heartbeat and release touch the row.
    claim = models.CharField(max_length=32, blank=True)
    # Which worker holds it ("host:pid"), for the admin and the logs.
    claimed_by = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "first_item_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "first_item_id"], name="evaluation_chunk_unique_start"
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"chunk {self.first_item_id}-{self.last_item_id} of run {self.run_id}"


class ModelAlonePrompt(TimeStampedModel):
    """A study's own model-alone prompt templates, under a key.

    A study starts with the presets of ``science.prompts.MODEL_ALONE_PRESETS`` (HELPMed's
    framing, the default, and a third-person one); a row with a preset's key replaces that
    preset for the study, a row with another key adds a choice. A run copies the texts it
    used into its config, so editing a template later never changes what a run recorded.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="model_alone_prompts")
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=200)
    # Plain text placed where a question template says {preamble}; may be empty.
    preamble = models.TextField(blank=True)
    together = models.TextField()
    disposition = models.TextField()
    conditions = models.TextField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["study", "key"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="model_alone_prompt_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.key}"

    def texts(self) -> dict[str, str]:
        return {part: getattr(self, part) for part in MODEL_ALONE_PARTS}

    def clean(self) -> None:
        problems = model_alone_template_problems(self.texts())
        if problems:
            raise ValidationError(
                {part: "; ".join(messages) for part, messages in problems.items()}
            )
