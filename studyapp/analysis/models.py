"""The analysis app's records: derived data the pages read (ConversationScore: never a
source of truth, always re-computable), and the audit trail of raw identifier exports
(RawIdentifierRelease, RawIdentifierDownload: append-only, see analysis.identifiers), and
people's corrections of answers' scores (ScoreCorrection: append-only, analysis.corrections)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models
from django.utils import timezone

from studyapp.chat.models import Conversation
from studyapp.studies.models import Study

# A reason says something ("bonuses", "x" and "n/a" do not).
REASON_MIN_CHARS = 10


class AuditRecordImmutableError(Exception):
    """Raw identifier releases and downloads are append-only."""


class ConversationScore(models.Model):
    """Which gold conditions came up in one conversation, by whom (scoring.transcripts).

    Scoring a transcript runs the fuzzy matcher over every message, far too slow to do per
    dashboard request for a whole study (tens of milliseconds a message), so it is done
    once per answered conversation and kept here; `scorer_version` says which rules made
    it, and rows of an older version are scored again (analysis.services).
    """

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="analysis_score"
    )
    # Gold terms named, in gold order.
    model_named = models.JSONField(default=list)
    participant_named = models.JSONField(default=list)
    # The same as booleans, so that SQL can count them.
    model_named_any = models.BooleanField(default=False)
    participant_named_any = models.BooleanField(default=False)
    # Position (from 0) of the first model message naming a gold term; None: never.
    first_model_naming_turn = models.PositiveSmallIntegerField(null=True, blank=True)
    n_messages = models.PositiveIntegerField(default=0)
    scorer_version = models.CharField(max_length=40)
    scored_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"score of conversation {self.conversation_id}"


class _AppendOnly(models.Model):
    """Rows are added, never changed or deleted (also refused by a PostgreSQL trigger)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditRecordImmutableError(f"{self._meta.verbose_name} rows are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditRecordImmutableError(f"{self._meta.verbose_name} rows are never deleted")


class RawIdentifierRelease(_AppendOnly):
    """An investigator's recorded reason to export raw Prolific ids of a study (e.g. to pay
    bonuses). It lets that investigator, and nobody else, export them for a while
    (analysis.identifiers.RELEASE_VALID_FOR)."""

    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, related_name="raw_identifier_releases"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(
        max_length=1000,
        validators=[MinLengthValidator(REASON_MIN_CHARS)],
        help_text="Why raw Prolific ids are needed (e.g. paying bonuses).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"raw identifier release {self.pk} of study {self.study_id}"


class RawIdentifierDownload(_AppendOnly):
    """One export that carried raw identifiers: who (the release's user), when, what. It
    holds no identifier."""

    release = models.ForeignKey(
        RawIdentifierRelease, on_delete=models.PROTECT, related_name="downloads"
    )
    # "participants.csv" for a download, "export_study participants,tasks (csv)" for the
    # command.
    what = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"raw identifier download {self.pk} ({self.what})"


class InferenceReveal(_AppendOnly):
    """An investigator's recorded decision to see a live study's inferential results
    (p values, odds ratios of contrasts, model fits): an interim look. While a study
    enrols, the pages withhold them until such a record exists for this user and session;
    the record says who, when and why, and is never changed."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="inference_reveals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(
        max_length=1000,
        validators=[MinLengthValidator(REASON_MIN_CHARS)],
        help_text="Why the interim results are needed now (e.g. the DSMB's planned look).",
    )
    # The plan in force when they were seen.
    plan_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"inference reveal {self.pk} of study {self.study_id}"


class ScoreCorrection(_AppendOnly):
    """A person's correction of one automatic score of an answer, with the reason; never
    changed (also refused by a PostgreSQL trigger), gone only with its answer (a
    participant who withdraws takes their data with them; the audit trail keeps the
    record). analysis.corrections.score_correct is its only writer: it sets the answer's
    field to `corrected_value` in the same transaction, so every figure and export that
    reads the field reads the correction, and participation.services.answers_rescore puts
    the latest correction back after scoring again. A correction of a correction is a new
    row: the chain is the history.

    Only `conditions_correct` is correctable: it is a fuzzy match of free text, where a
    person may judge better. The disposition scores are exact (the chosen level against
    the gold level); a disposition thought wrong is the scenario's gold to fix, not one
    answer's score."""

    class Field(models.TextChoices):
        CONDITIONS_CORRECT = "conditions_correct", "Names a gold condition"

    class Role(models.TextChoices):
        # Owners, collaborators and analysts (blinded or not): the transcript page.
        INVESTIGATOR = "investigator", "Investigator"
        # The item's only rater, from their rating page (ratings.corrections).
        RATER = "rater", "Rater"

    answer = models.ForeignKey(
        "participation.Answer", on_delete=models.CASCADE, related_name="score_corrections"
    )
    field = models.CharField(max_length=40, choices=Field.choices)
    # What the answer held just before: the automatic score for the first correction,
    # the previous correction's value for a later one.
    original_value = models.BooleanField(null=True)
    corrected_value = models.BooleanField()
    # The scorer's own value and rules when the correction was made (the first row's
    # original_value; carried along the chain): what the answer would hold uncorrected.
    automatic_value = models.BooleanField(null=True)
    automatic_scorer_version = models.CharField(max_length=40, blank=True)
    reason = models.TextField(
        max_length=1000,
        validators=[MinLengthValidator(REASON_MIN_CHARS)],
        help_text="Why the automatic score is wrong (e.g. 'names appendicitis as "
        '"appendix inflammation"\').',
    )
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # In what capacity the person corrected it (rows before raters could: investigators).
    corrector_role = models.CharField(
        max_length=12, choices=Role.choices, default=Role.INVESTIGATOR
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["answer", "field", "created_at"])]

    def __str__(self) -> str:
        return f"score correction {self.pk} of answer {self.answer_id} ({self.field})"
