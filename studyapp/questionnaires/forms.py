"""The investigators' builder forms. Options are typed one per line as `value | label`
(a line without `|` is both); the service's model checks say what is wrong, and the view
puts each message beside its field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django import forms

from studyapp.questionnaires.models import (
    Item,
    Placement,
    Questionnaire,
    QuestionnaireTranslation,
)
from studyapp.questionnaires.translations import ANCHORS
from studyapp.questionnaires.validation import CONDITION_KINDS
from studyapp.studies.builder_translations import PROVENANCE_FIELDS
from studyapp.studies.forms_translations import TranslationProvenanceForm


class QuestionnaireForm(forms.Form):
    key = forms.SlugField(max_length=40, help_text="Names its columns in the exports.")
    title = forms.CharField(max_length=200, help_text="Shown to participants.")
    placement = forms.ChoiceField(choices=Placement.choices)
    intro = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Above the questions."
    )

    @classmethod
    def for_questionnaire(cls, questionnaire: Questionnaire) -> QuestionnaireForm:
        return cls(
            initial={
                "key": questionnaire.key,
                "title": questionnaire.title,
                "placement": questionnaire.placement,
                "intro": questionnaire.intro,
            }
        )


def options_parse(text: str) -> list[dict[str, str]]:
    options = []
    for line in text.splitlines():
        if not line.strip():
            continue
        value, _, label = line.partition("|")
        value = value.strip()
        options.append({"value": value, "label": label.strip() or value})
    return options


def options_format(options: list[dict]) -> str:
    return "\n".join(
        o.get("value", "")
        if o.get("label") == o.get("value")
        else f"{o.get('value')} | {o.get('label')}"
        for o in options
    )


def _item_choice_label(item: Item) -> str:
    text = item.text if len(item.text) <= 60 else item.text[:59] + "…"
    return f"{item.key}: {text}"


class ItemForm(forms.Form):
    key = forms.SlugField(max_length=40, help_text="Its column in the exports.")
    kind = forms.ChoiceField(choices=Item._meta.get_field("kind").choices)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    required = forms.BooleanField(required=False, initial=True)
    options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Choice items: one per line, “value | label”.",
    )
    min_value = forms.FloatField(required=False, help_text="Number items.")
    max_value = forms.FloatField(required=False, help_text="Number items.")
    scale_points = forms.IntegerField(required=False, help_text="Likert items: 2 to 11.")
    anchor_low = forms.CharField(required=False, max_length=80, help_text="Likert: label of 1.")
    anchor_high = forms.CharField(
        required=False, max_length=80, help_text="Likert: label of the last point."
    )
    condition_item = forms.ModelChoiceField(
        queryset=Item.objects.none(),
        required=False,
        label="Show only if",
        help_text="An earlier Likert or choice item.",
    )
    condition_values = forms.CharField(
        required=False,
        label="…is one of",
        help_text="Answer values, separated by commas (Likert: point numbers).",
    )

    def __init__(self, *args, questionnaire: Questionnaire, item: Item | None = None, **kwargs):
        # The builder page shows this form beside the questionnaire's own (and an item's
        # beside the new item's): ids of their own, or a label would focus the other form's
        # field of the same name.
        kwargs.setdefault("auto_id", f"id_item{item.pk}_%s" if item else "id_new_item_%s")
        super().__init__(*args, **kwargs)
        earlier = Item.objects.filter(questionnaire=questionnaire, kind__in=CONDITION_KINDS)
        if item is not None:
            earlier = earlier.filter(position__lt=item.position)
        self.fields["condition_item"].queryset = earlier.order_by("position", "pk")
        # The item as the investigator wrote it, not its kind's code ("ease (likert)").
        self.fields["condition_item"].label_from_instance = _item_choice_label

    @classmethod
    def for_item(cls, item: Item) -> ItemForm:
        return cls(
            questionnaire=item.questionnaire,
            item=item,
            initial={
                "key": item.key,
                "kind": item.kind,
                "text": item.text,
                "required": item.required,
                "options": options_format(item.options),
                "min_value": item.min_value,
                "max_value": item.max_value,
                "scale_points": item.scale_points,
                "anchor_low": item.anchor_low,
                "anchor_high": item.anchor_high,
                "condition_item": item.condition_item_id,
                "condition_values": ", ".join(str(v) for v in item.condition_values),
            },
        )

    def item_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["options"] = options_parse(data["options"])
        data["condition_values"] = [
            v.strip() for v in data["condition_values"].split(",") if v.strip()
        ]
        return data


# --- Translations --------------------------------------------------------------------------


ANCHOR_LABELS = {"anchor_low": "Label of point 1", "anchor_high": "Label of the last point"}


@dataclass(frozen=True)
class OptionRow:
    value: str
    source: str
    field: forms.BoundField


@dataclass(frozen=True)
class ItemRow:
    """One item on the translation form: its source texts beside their fields."""

    item: Item
    text: forms.BoundField
    options: list[OptionRow]
    anchors: list[tuple[str, forms.BoundField]]  # (source text, field)


class QuestionnaireTranslationForm(TranslationProvenanceForm):
    """A questionnaire's translation as fields: provenance (as every translation page
    asks it), title, introduction, and per item its question, each option's label and
    each Likert anchor (fields named by the item's pk and the option's position, so no
    value typed by an investigator ends up in a field name). Pieces left empty are shown
    in the source language, and listed as missing by the launch checklist. `made_from`:
    the page's digest (translations.page_digest), in the hidden `source` field: options
    follow by position, so a save is refused when the questionnaire changed in between."""

    title = forms.CharField(max_length=200)
    intro = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Introduction"
    )

    PROVENANCE = PROVENANCE_FIELDS

    def __init__(
        self,
        *args,
        questionnaire: Questionnaire,
        items: Sequence[Item],
        translation: QuestionnaireTranslation | None = None,
        made_from: str = "",
        **kwargs,
    ):
        if translation is not None:
            kwargs.setdefault("initial", self._initial(translation, items))
        super().__init__(*args, **kwargs)
        self.fields["source"].initial = made_from
        self.questionnaire, self.items = questionnaire, list(items)
        if not questionnaire.intro:
            del self.fields["intro"]
        for item in self.items:
            self.fields[f"item{item.pk}_text"] = forms.CharField(
                required=False,
                label=f"Question {item.key}",
                widget=forms.Textarea(attrs={"rows": 2}),
            )
            for i, option in enumerate(item.options):
                self.fields[f"item{item.pk}_option{i}"] = forms.CharField(
                    required=False, label=f"Option {option.get('value', '')}"
                )
            for anchor in ANCHORS:
                if getattr(item, anchor):
                    self.fields[f"item{item.pk}_{anchor}"] = forms.CharField(
                        required=False,
                        max_length=80,
                        label="Label of point 1"
                        if anchor == "anchor_low"
                        else "Label of the last point",
                    )

    @staticmethod
    def _initial(translation: QuestionnaireTranslation, items: Sequence[Item]) -> dict:
        initial = {
            name: getattr(translation, name) for name in QuestionnaireTranslationForm.PROVENANCE
        }
        initial |= {"title": translation.title, "intro": translation.intro}
        for item in items:
            pieces = translation.items.get(item.key) or {}
            labels = pieces.get("options") or {}
            initial[f"item{item.pk}_text"] = pieces.get("text", "")
            for i, option in enumerate(item.options):
                initial[f"item{item.pk}_option{i}"] = labels.get(str(option.get("value", "")), "")
            for anchor in ANCHORS:
                initial[f"item{item.pk}_{anchor}"] = pieces.get(anchor, "")
        return initial

    def provenance_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.PROVENANCE]

    def rows(self) -> list[ItemRow]:
        rows = []
        for item in self.items:
            rows.append(
                ItemRow(
                    item=item,
                    text=self[f"item{item.pk}_text"],
                    options=[
                        OptionRow(
                            value=str(option.get("value", "")),
                            source=str(option.get("label", "")),
                            field=self[f"item{item.pk}_option{i}"],
                        )
                        for i, option in enumerate(item.options)
                    ],
                    anchors=[
                        (getattr(item, anchor), self[f"item{item.pk}_{anchor}"])
                        for anchor in ANCHORS
                        if getattr(item, anchor)
                    ],
                )
            )
        return rows

    def translation_data(self) -> dict:
        """The service's data (questionnaire_translation_save): items by key, options
        by value, empty pieces left out."""
        data = {name: self.cleaned_data[name] for name in self.PROVENANCE}
        data["title"] = self.cleaned_data["title"]
        data["intro"] = self.cleaned_data.get("intro", "")
        items = {}
        for item in self.items:
            pieces: dict = {}
            if text := self.cleaned_data[f"item{item.pk}_text"].strip():
                pieces["text"] = text
            labels = {
                str(option.get("value", "")): label
                for i, option in enumerate(item.options)
                if (label := self.cleaned_data[f"item{item.pk}_option{i}"].strip())
            }
            if labels:
                pieces["options"] = labels
            for anchor in ANCHORS:
                if value := self.cleaned_data.get(f"item{item.pk}_{anchor}", "").strip():
                    pieces[anchor] = value
            if pieces:
                items[item.key] = pieces
        data["items"] = items
        return data
