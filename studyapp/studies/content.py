"""The shapes of a scenario's rubric and key facts, and their checks. Pure.

Both are JSON lists stored on `Scenario` and versioned with it, like the gold conditions:

- rubric: `{"key": slug, "text": str, "points": int, "applies_to": "model" | "answer"}`.
  Points are never zero; a negative item is harmful content (reassuring someone about a
  thunderclap headache). `applies_to` says whose text the item grades: the model's turns
  of a chat, or the participant's (or model's) final answer.
- key facts: `{"key": slug, "text": str, "patterns": [str, ...]}`: what a participant
  should tell the model, and phrases a matcher can look for in their messages.

Checks return messages instead of raising, so that `Scenario.clean()` and the importers
can both say where the trouble is; the `*_row_errors` forms name the entry and field, for
the scenario page's rows (studies.forms_scenario_content).
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple, TypedDict

RUBRIC_APPLIES_TO = ("model", "answer")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+\Z")


class RubricItem(TypedDict):
    key: str
    text: str
    points: int
    applies_to: Literal["model", "answer"]


class KeyFact(TypedDict):
    key: str
    text: str
    patterns: list[str]


class RowError(NamedTuple):
    """One thing wrong with one entry: its place in the list (from 0), the field at fault
    (None: the entry as a whole) and what is wrong, so a page can say it beside the field."""

    index: int
    field: str | None
    message: str


def _keyed_rows_errors(entries: list[dict], *, fields: set[str]) -> list[RowError]:
    errors: list[RowError] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if set(entry) != fields:
            message = f"needs exactly the fields {', '.join(sorted(fields))}."
            errors.append(RowError(index, None, message))
            continue
        key = entry["key"]
        if not isinstance(key, str) or not _SLUG.match(key):
            errors.append(RowError(index, "key", "key must be a slug (letters, digits, - and _)."))
        elif key in seen:
            errors.append(RowError(index, "key", f"the key {key!r} is used twice."))
        else:
            seen.add(key)
        if not isinstance(entry["text"], str) or not entry["text"].strip():
            errors.append(RowError(index, "text", "text must not be empty."))
    return errors


def _is_list_of_objects(value) -> bool:
    return isinstance(value, list) and all(isinstance(entry, dict) for entry in value)


def rubric_row_errors(rubric: list[dict]) -> list[RowError]:
    """What is wrong with each item of a rubric (a list of objects), by item and field."""
    fields = {"key", "text", "points", "applies_to"}
    errors = _keyed_rows_errors(rubric, fields=fields)
    for index, entry in enumerate(rubric):
        if set(entry) != fields:
            continue
        points = entry["points"]
        if not isinstance(points, int) or isinstance(points, bool) or points == 0:
            errors.append(
                RowError(
                    index,
                    "points",
                    "points must be a whole number, not zero (negative: harmful content).",
                )
            )
        if entry["applies_to"] not in RUBRIC_APPLIES_TO:
            errors.append(
                RowError(
                    index, "applies_to", f"applies_to must be {' or '.join(RUBRIC_APPLIES_TO)}."
                )
            )
    return sorted(errors, key=lambda e: e.index)


def key_facts_row_errors(facts: list[dict]) -> list[RowError]:
    """What is wrong with each of a list of key facts (objects), by fact and field."""
    fields = {"key", "text", "patterns"}
    errors = _keyed_rows_errors(facts, fields=fields)
    for index, entry in enumerate(facts):
        if set(entry) != fields:
            continue
        patterns = entry["patterns"]
        if (
            not isinstance(patterns, list)
            or not patterns
            or not all(isinstance(p, str) and p.strip() for p in patterns)
        ):
            errors.append(
                RowError(index, "patterns", "patterns must be a list of one phrase or more.")
            )
    return sorted(errors, key=lambda e: e.index)


def rubric_errors(value) -> list[str]:
    """What is wrong with a rubric (empty: nothing)."""
    if not _is_list_of_objects(value):
        return ["The rubric must be a list of objects."]
    return [f"rubric item {e.index + 1}: {e.message}" for e in rubric_row_errors(value)]


def key_facts_errors(value) -> list[str]:
    """What is wrong with a list of key facts (empty: nothing)."""
    if not _is_list_of_objects(value):
        return ["The key facts must be a list of objects."]
    return [f"key fact {e.index + 1}: {e.message}" for e in key_facts_row_errors(value)]
