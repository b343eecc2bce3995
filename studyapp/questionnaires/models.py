"""Questionnaires: an instrument per study and placement, its ordered items, and the
participants' responses (one per questionnaire, participant and, after each scenario,
task), each answer a row of its own so per-item figures are aggregates in SQL."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from studyapp.core.models import TimeStampedModel
from studyapp.participation.models import Participant, Task, humans_q
from studyapp.questionnaires import validation
from studyapp.questionnaires.validation import Kind
from studyapp.studies.models import Study, Translation


class Placement(models.TextChoices):
    # After consent (and allocation, and the screening question if any), before the
    # instructions: baseline questions, answered before any scenario.
    AFTER_CONSENT = "after_consent", "After consent, before the instructions"
    AFTER_EACH_SCENARIO = "after_each_scenario", "After each scenario's answer"
    END = "end", "At the end, before the completion code"


class Questionnaire(TimeStampedModel):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="questionnaires")
    key = models.SlugField(
        max_length=40, help_text="Names its columns in the exports (e.g. baseline)."
    )
    title = models.CharField(max_length=200, help_text="Shown to participants.")
    intro = models.TextField(blank=True, help_text="Shown above the questions.")
    placement = models.CharField(max_length=24, choices=Placement.choices)
    # Order among the study's questionnaires of the same placement.
    position = models.PositiveSmallIntegerField(default=0)

    # Configuration: every change is kept, and recorded in the study's audit chain.
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["study_id", "placement", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="questionnaire_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.get_placement_display()})"

    @property
    def has_responses(self) -> bool:
        return self.responses.exists()


class Item(TimeStampedModel):
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.CASCADE, related_name="items"
    )
    position = models.PositiveSmallIntegerField(default=0)
    key = models.SlugField(max_length=40, help_text="Its column in the exports (e.g. education).")
    kind = models.CharField(
        max_length=10,
        choices=[
            (Kind.LIKERT, "Likert scale"),
            (Kind.SINGLE, "Single choice"),
            (Kind.MULTIPLE, "Multiple choice"),
            (Kind.NUMBER, "Number"),
            (Kind.TEXT, "Free text"),
        ],
    )
    text = models.TextField(help_text="The question as participants read it.")
    required = models.BooleanField(default=True)
    # Single and multiple choice: [{"value": "uni", "label": "University degree"}].
    options = models.JSONField(default=list, blank=True)
    # Number items.
    min_value = models.FloatField(null=True, blank=True)
    max_value = models.FloatField(null=True, blank=True)
    # Likert items: points 1..scale_points, the ends labelled.
    scale_points = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[
            MinValueValidator(validation.LIKERT_MIN_POINTS),
            MaxValueValidator(validation.LIKERT_MAX_POINTS),
        ],
    )
    anchor_low = models.CharField(max_length=80, blank=True, help_text="Label of point 1.")
    anchor_high = models.CharField(max_length=80, blank=True, help_text="Label of the last point.")
    # Shown only when the earlier item's answer is among condition_values.
    # RESTRICT, not PROTECT: an item others depend on is not deleted alone
    # (services.item_delete says why), but goes with its questionnaire or study.
    condition_item = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.RESTRICT, related_name="dependents"
    )
    condition_values = models.JSONField(default=list, blank=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["questionnaire_id", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "key"], name="item_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.kind})"

    @property
    def study_id(self) -> int | None:
        """Its study, for the audit chain (audit.history files an entry by `study_id`)."""
        try:
            return self.questionnaire.study_id
        except ObjectDoesNotExist:
            return None

    def spec(self, *, condition_key: str | None = None) -> validation.ItemSpec:
        if condition_key is None:
            condition_key = self.condition_item.key if self.condition_item_id else ""
        return validation.ItemSpec(
            key=self.key,
            kind=Kind(self.kind),
            required=self.required,
            options=list(self.options or ()),
            min_value=self.min_value,
            max_value=self.max_value,
            scale_points=self.scale_points,
            condition_key=condition_key,
            condition_values=[str(v) for v in self.condition_values or ()],
        )

    def clean(self) -> None:
        if not isinstance(self.options, list) or not all(
            isinstance(o, dict) for o in self.options
        ):
            raise ValidationError({"options": "A list of {value, label} objects."})
        if not isinstance(self.condition_values, list):
            raise ValidationError({"condition_values": "A list of answer values."})
        if self.condition_item_id and (
            self.condition_item.questionnaire_id != self.questionnaire_id
            or self.condition_item_id == self.pk
        ):
            raise ValidationError({"condition_item": "An earlier item of this questionnaire."})
        earlier = [
            i.spec()
            for i in Item.objects.filter(questionnaire_id=self.questionnaire_id)
            .exclude(pk=self.pk)
            .select_related("condition_item")
            if (i.position, i.pk or 0) < (self.position, self.pk or 1 << 62)
        ]
        errors = validation.item_config_errors(self.spec(), earlier)
        if "condition_key" in errors:
            errors["condition_item"] = errors.pop("condition_key")
        if errors:
            raise ValidationError(errors)


class QuestionnaireTranslation(Translation):
    """A questionnaire's participant-facing texts in another language of its study: its
    title and introduction, and per item (by key) the question, the option labels (by
    option value) and the Likert anchors. Keys and option values are never translated:
    answers are stored by value, so they mean the same in every language.

    `items`: {"<item key>": {"text": "...", "options": {"<value>": "<label>"},
    "anchor_low": "...", "anchor_high": "..."}}, only the pieces its item has
    (questionnaires.translations says how a participant's page reads it).
    """

    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.CASCADE, related_name="translations"
    )
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True)
    items = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["questionnaire", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["questionnaire", "language"],
                name="questionnaire_translation_one_per_language",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire.key} ({self.language})"

    @property
    def study_id(self) -> int | None:
        """Its study, for the audit chain (as Item.study_id)."""
        try:
            return self.questionnaire.study_id
        except ObjectDoesNotExist:
            return None

    def source(self) -> dict:
        from studyapp.questionnaires.translations import questionnaire_source

        return questionnaire_source(self.questionnaire)

    def clean(self) -> None:
        from studyapp.questionnaires.translations import translation_shape_errors

        errors: dict[str, str] = {}
        if self.questionnaire_id:
            languages = self.questionnaire.study.languages or []
            if languages and self.language == languages[0]:
                errors["language"] = "The study is written in this language: nothing to translate."
            elif self.language not in languages:
                errors["language"] = "The study does not offer this language."
            if problems := translation_shape_errors(self.items, self.source()["items"]):
                errors["items"] = "; ".join(problems)
        if errors:
            raise ValidationError(errors)


class ResponseQuerySet(models.QuerySet):
    def of_humans(self) -> ResponseQuerySet:
        """Responses of real participants (humans_q)."""
        return self.filter(humans_q("participant__"))


class Response(TimeStampedModel):
    """One participant's answers to one questionnaire (after each scenario: per task).
    Withdrawal deletes it with the participant."""

    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="responses"
    )
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="questionnaire_responses"
    )
    task = models.ForeignKey(
        Task,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="questionnaire_responses",
    )
    # The language the questionnaire was read in: the participant's where it has a
    # translation into it, else the study's first (services.response_store).
    language = models.CharField(max_length=16, default="en")

    objects = ResponseQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        constraints = [
            # A resubmitted form never adds a second response (NULLs are distinct in a
            # unique index, hence the two conditions).
            models.UniqueConstraint(
                fields=["questionnaire", "participant"],
                condition=models.Q(task__isnull=True),
                name="response_unique_once",
            ),
            models.UniqueConstraint(
                fields=["questionnaire", "participant", "task"],
                condition=models.Q(task__isnull=False),
                name="response_unique_per_task",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire.key} by participant {self.participant_id}"


class ItemAnswer(models.Model):
    """One answer to one item shown. Likert and number in `number`; single choice and
    text in `text`; multiple choice in `choices` (the option values, in option order)."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="answers")
    number = models.FloatField(null=True, blank=True)
    text = models.TextField(blank=True)
    choices = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["response", "item"], name="item_answer_unique")
        ]

    def __str__(self) -> str:
        return f"answer to {self.item.key}"

    @property
    def value(self):
        kind = self.item.kind
        if kind == Kind.LIKERT:
            return None if self.number is None else int(self.number)
        if kind == Kind.NUMBER:
            return self.number
        if kind == Kind.MULTIPLE:
            return list(self.choices)
        return self.text
