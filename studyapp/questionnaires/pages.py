"""What a participant's questionnaire page shows: each item with its answer so far and
its message, and what the page's script needs to show or hide a conditional item."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from studyapp.questionnaires.models import Item
from studyapp.questionnaires.translations import QuestionnaireTexts
from studyapp.questionnaires.validation import Kind

FIELD_PREFIX = "q-"


def field_name(item: Item) -> str:
    return f"{FIELD_PREFIX}{item.key}"


def raw_from_post(items: Sequence[Item], post) -> dict[str, list[str]]:
    """{item key: [values]} from a submitted form (only the items' own fields)."""
    return {item.key: post.getlist(field_name(item)) for item in items}


@dataclass(frozen=True)
class ItemField:
    item: Item
    name: str
    values: list[str]
    error: str
    # Likert: [(value, label)]; choice items: their options, labelled in the language read.
    choices: list[tuple[str, str]]
    condition_name: str
    condition_values_json: str
    # What the participant reads, in their language where translated.
    text: str = ""
    anchor_low: str = ""
    anchor_high: str = ""

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""

    @property
    def dom_id(self) -> str:
        return f"id_{self.name}"


def item_fields(
    items: Sequence[Item],
    *,
    raw: Mapping[str, Sequence[str]] | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
    texts: QuestionnaireTexts | None = None,
) -> list[ItemField]:
    """`texts`: the questionnaire in the participant's language (translations.
    questionnaire_texts); None: as written. Values are always the source's."""
    raw, errors = raw or {}, errors or {}
    by_pk = {item.pk: item for item in items}
    fields = []
    for item in items:
        text = texts.item(item) if texts is not None else None
        if item.kind == Kind.LIKERT:
            choices = [(str(n), str(n)) for n in range(1, (item.scale_points or 0) + 1)]
        else:
            labels = text.labels if text else {}
            choices = [
                (value, labels.get(value) or str(o.get("label", "")))
                for o in item.options
                for value in [str(o.get("value", ""))]
            ]
        source = by_pk.get(item.condition_item_id) if item.condition_item_id else None
        messages = errors.get(item.key) or []
        fields.append(
            ItemField(
                item=item,
                name=field_name(item),
                values=[str(v) for v in raw.get(item.key, ())],
                error=" ".join(str(m) for m in messages),
                choices=choices,
                condition_name=field_name(source) if source else "",
                condition_values_json=json.dumps([str(v) for v in item.condition_values])
                if source
                else "",
                text=text.text if text else item.text,
                anchor_low=text.anchor_low if text else item.anchor_low,
                anchor_high=text.anchor_high if text else item.anchor_high,
            )
        )
    return fields
