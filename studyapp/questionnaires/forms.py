"""The investigators' builder forms. Options are typed one per line as `value | label`
(a line without `|` is both); the service's model checks say what is wrong, and the view
puts each message beside its field."""

from __future__ import annotations

from django import forms

from studyapp.questionnaires.models import Item, Placement, Questionnaire
from studyapp.questionnaires.validation import CONDITION_KINDS


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
