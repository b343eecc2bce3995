"""How each item is coded in the exports: the data dictionary's entry for one item
(pure: reads the item's fields only)."""

from __future__ import annotations

from studyapp.questionnaires.models import Item, Questionnaire
from studyapp.questionnaires.validation import Kind


def _plain(number: float | None) -> str:
    if number is None:
        return "none"
    return str(int(number)) if float(number).is_integer() else str(number)


def item_coding(item: Item) -> str:
    """Where the answer is in questionnaire_answers and what its values mean."""
    if item.kind == Kind.LIKERT:
        return (
            f"value_number: integer 1 to {item.scale_points} "
            f"(1 = {item.anchor_low or 'unlabelled'}; "
            f"{item.scale_points} = {item.anchor_high or 'unlabelled'})"
        )
    if item.kind == Kind.NUMBER:
        return f"value_number: a number from {_plain(item.min_value)} to {_plain(item.max_value)}"
    if item.kind == Kind.SINGLE:
        return "value_text: one option value"
    if item.kind == Kind.MULTIPLE:
        return "value_choices: the option values chosen, in the options' order"
    return "value_text: free text, verbatim"


def item_entry(questionnaire: Questionnaire, item: Item) -> dict:
    """The data dictionary's entry for one item."""
    condition = None
    if item.condition_item_id:
        condition = {
            "item": item.condition_item.key,
            "values": [str(v) for v in item.condition_values],
        }
    return {
        "questionnaire": questionnaire.key,
        "placement": questionnaire.placement,
        "item": item.key,
        "position": item.position,
        "text": item.text,
        "kind": item.kind,
        "required": item.required,
        "options": [
            {"value": str(o.get("value", "")), "label": str(o.get("label", ""))}
            for o in item.options
        ],
        "coding": item_coding(item),
        "shown_only_if": condition,
    }
