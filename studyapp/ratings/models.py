"""Human rating of answers and transcripts: raters, rounds, items, labels, adjudications.

A rater is a per-study role (`StudyRater`), known everywhere outside the investigators'
pages by a code ("R1"), never by name. A round samples items of the study (participants'
answers, whole chats, model-alone and simulated outputs) and deals them out to raters
(`RatingAssignment`); a configurable share is rated twice. Labels and adjudications are
append-only: a revision is a new row, so every decision keeps who, when and why. Only
the removal of what they label (a participant withdrawing, an evaluation run deleted)
removes them, with it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef
from django.utils import timezone

from studyapp.core.models import TimeStampedModel
from studyapp.evaluations.models import EvaluationItem
from studyapp.participation.models import Answer, Task
from studyapp.studies.models import Scenario, Study


class StudyRater(TimeStampedModel):
    """A user's rater role in one study. Never deleted once it has labels: deactivated."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="raters")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rater_roles"
    )
    # How exports and the adjudication page name the rater: "R1", "R2"... in order added.
    code = models.CharField(max_length=10)
    can_rate = models.BooleanField(default=True, help_text="Gets items in new rounds.")
    can_adjudicate = models.BooleanField(
        default=False, help_text="Resolves disagreements between other raters."
    )
    is_active = models.BooleanField(default=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["study", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="rater_one_role_per_study"),
            models.UniqueConstraint(fields=["study", "code"], name="rater_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code} of {self.study.slug}"


class RatingRound(TimeStampedModel):
    """One sample of items dealt out to raters: what was sampled, the double-rated share
    and the seed, so the same call deals the same way."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="rating_rounds")
    name = models.CharField(max_length=100)
    seed = models.BigIntegerField()
    double_share = models.FloatField(
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of items rated by more than one rater (0.2 = 20%).",
    )
    raters_per_double = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(2)]
    )
    # What was sampled: {"human_answers": true, "human_transcripts": false,
    # "evaluation_runs": [run ids]}.
    sources = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["study", "created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.study.slug})"


class RatingItem(TimeStampedModel):
    """One thing to rate. Exactly one source: a participant's answer, a participant's
    whole task (its chat and answer), or an evaluation item (a model-alone answer, or a
    simulated participant's answer or chat). Raters never see which."""

    class Kind(models.TextChoices):
        ANSWER = "answer", "Answer (conditions named)"
        TRANSCRIPT = "transcript", "Transcript (rubric)"

    round = models.ForeignKey(RatingRound, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The scenario version whose gold terms and rubric the labels refer to.
    scenario = models.ForeignKey(Scenario, on_delete=models.PROTECT, related_name="rating_items")
    answer = models.ForeignKey(
        Answer, on_delete=models.CASCADE, null=True, blank=True, related_name="rating_items"
    )
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, null=True, blank=True, related_name="rating_items"
    )
    evaluation_item = models.ForeignKey(
        EvaluationItem,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rating_items",
    )
    is_double = models.BooleanField(default=False)

    class Meta:
        ordering = ["round", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(answer__isnull=False, task__isnull=True, evaluation_item__isnull=True)
                    | models.Q(
                        answer__isnull=True, task__isnull=False, evaluation_item__isnull=True
                    )
                    | models.Q(
                        answer__isnull=True, task__isnull=True, evaluation_item__isnull=False
                    )
                ),
                name="rating_item_exactly_one_source",
            ),
            models.CheckConstraint(
                condition=~models.Q(answer__isnull=False, kind="transcript")
                & ~models.Q(task__isnull=False, kind="answer"),
                name="rating_item_kind_fits_source",
            ),
            models.UniqueConstraint(fields=["round", "answer"], name="rating_item_answer_once"),
            models.UniqueConstraint(fields=["round", "task"], name="rating_item_task_once"),
            models.UniqueConstraint(
                fields=["round", "evaluation_item", "kind"], name="rating_item_evaluation_once"
            ),
        ]

    def __str__(self) -> str:
        return f"rating item {self.pk} ({self.kind})"


class RatingAssignment(models.Model):
    """An item in a rater's queue. `position` numbers the rater's own queue (shuffled per
    rater, continuing across rounds) and is the only way a rater's pages name an item."""

    item = models.ForeignKey(RatingItem, on_delete=models.CASCADE, related_name="assignments")
    rater = models.ForeignKey(StudyRater, on_delete=models.PROTECT, related_name="assignments")
    position = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["rater", "position"]
        constraints = [
            models.UniqueConstraint(fields=["item", "rater"], name="assignment_once_per_rater"),
            models.UniqueConstraint(fields=["rater", "position"], name="assignment_position"),
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} for {self.rater_id} (#{self.position})"


class DecisionImmutableError(Exception):
    """Labels and adjudications are append-only: a revision is a new row."""


class _Decision(models.Model):
    """What a label or an adjudication says about an item.

    Answer items: the scenario's gold conditions and red flags named (exactly as the
    scenario spells them) and other relevant conditions in free text. Transcript items:
    `rubric` = {rubric key: {"met": bool, "turns": [model turn numbers, from 1]}}.
    """

    item = models.ForeignKey(RatingItem, on_delete=models.CASCADE, related_name="+")
    conditions_named = models.JSONField(default=list, blank=True)
    red_flags_named = models.JSONField(default=list, blank=True)
    other_conditions = models.TextField(blank=True, max_length=2000)
    rubric = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise DecisionImmutableError(f"{self._meta.verbose_name} rows are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise DecisionImmutableError(f"{self._meta.verbose_name} rows are never deleted")


class LabelQuerySet(models.QuerySet["Label"]):
    def current(self) -> LabelQuerySet:
        """Each rater's latest label of each item (a revision supersedes the label before)."""
        newer = Label.objects.filter(
            item=OuterRef("item"), rater=OuterRef("rater"), pk__gt=OuterRef("pk")
        )
        return self.filter(~Exists(newer))


class Label(_Decision):
    item = models.ForeignKey(RatingItem, on_delete=models.CASCADE, related_name="labels")
    rater = models.ForeignKey(StudyRater, on_delete=models.PROTECT, related_name="labels")
    reason = models.TextField(blank=True, max_length=2000)

    objects = LabelQuerySet.as_manager()

    class Meta:
        ordering = ["item", "rater", "pk"]
        indexes = [models.Index(fields=["item", "rater"])]

    def __str__(self) -> str:
        return f"label {self.pk} of item {self.item_id} by {self.rater_id}"


class AdjudicationQuerySet(models.QuerySet["Adjudication"]):
    def current(self) -> AdjudicationQuerySet:
        """The latest adjudication of each item."""
        newer = Adjudication.objects.filter(item=OuterRef("item"), pk__gt=OuterRef("pk"))
        return self.filter(~Exists(newer))


class Adjudication(_Decision):
    """The final label of an item its raters disagreed on, with the adjudicator's reason."""

    item = models.ForeignKey(RatingItem, on_delete=models.CASCADE, related_name="adjudications")
    adjudicator = models.ForeignKey(
        StudyRater, on_delete=models.PROTECT, related_name="adjudications"
    )
    # The rater's label the adjudicator took as it was, if they did.
    chosen_label = models.ForeignKey(
        Label, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(max_length=2000)

    objects = AdjudicationQuerySet.as_manager()

    class Meta:
        ordering = ["item", "pk"]

    def __str__(self) -> str:
        return f"adjudication {self.pk} of item {self.item_id}"


class ReferenceLabel(models.Model):
    """An answer's reference label, kept as a row so that the analysis can read it in SQL
    (`Coalesce(reference_label.conditions_correct, conditions_correct)`).

    Derived data: the adjudication of the answer's item, else its raters' agreed label
    (`selectors.answer_references`). Written only by `services.references`, in the
    transaction of every label and adjudication that changes an item's reference; an
    answer without a reference (not rated, rated once, disputed) has no row. The command
    `rebuild_reference_labels` recomputes them all. Answers only: participants' and
    simulated participants'; model-alone outputs have no Answer.
    """

    class Source(models.TextChoices):
        ADJUDICATED = "adjudicated", "Adjudicated"
        AGREED = "agreed", "Raters agreed"

    answer = models.OneToOneField(
        Answer, on_delete=models.CASCADE, primary_key=True, related_name="reference_label"
    )
    # The rating item whose labels gave it (the latest round's, if several rated it).
    item = models.ForeignKey(RatingItem, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=12, choices=Source.choices)
    # HELPMed's criterion on the reference: at least one gold condition named.
    conditions_correct = models.BooleanField()
    # Gold conditions and red flags the reference names, in gold order.
    matched_conditions = models.JSONField(default=list)
    matched_red_flags = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"reference label of answer {self.answer_id} ({self.source})"
