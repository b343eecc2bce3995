"""The shapes of a scenario's rubric and key facts, and their checks. Pure.

Both are JSON lists stored on `Scenario` and versioned with it, like the gold conditions:

- rubric: `{"key": slug, "text": str, "points": int, "applies_to": "model" | "answer"}`.
  Points are never zero; a negative item is harmful content (reassuring someone about a
  thunderclap headache). `applies_to` says whose text the item grades: the model's turns
  of a chat, or the participant's (or model's) final answer.
- key facts: `{"key": slug, "text": str, "patterns": [str, ...]}`: what a participant
  should tell the model, and phrases a matcher can look for in their messages.

Checks return messages instead of raising, so that `Scenario.clean()` and the importers
can both say where the trouble is.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict

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


def _keyed_list_errors(value, *, fields: set[str], what: str) -> tuple[list[str], list[dict]]:
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        return [f"{what} must be a list of objects."], []
    errors: list[str] = []
    seen: set[str] = set()
    for number, entry in enumerate(value, 1):
        where = f"{what} {number}"
        if set(entry) != fields:
            errors.append(f"{where}: needs exactly the fields {', '.join(sorted(fields))}.")
            continue
        key = entry["key"]
        if not isinstance(key, str) or not _SLUG.match(key):
            errors.append(f"{where}: key must be a slug (letters, digits, - and _).")
        elif key in seen:
            errors.append(f"{where}: the key {key!r} is used twice.")
        else:
            seen.add(key)
        if not isinstance(entry["text"], str) or not entry["text"].strip():
            errors.append(f"{where}: text must not be empty.")
    return errors, [e for e in value if set(e) == fields]


def rubric_errors(value) -> list[str]:
    """What is wrong with a rubric (empty: nothing)."""
    errors, entries = _keyed_list_errors(
        value, fields={"key", "text", "points", "applies_to"}, what="rubric item"
    )
    for number, entry in enumerate(entries, 1):
        points = entry["points"]
        if not isinstance(points, int) or isinstance(points, bool) or points == 0:
            errors.append(
                f"rubric item {entry.get('key') or number}: points must be a whole number, "
                "not zero (negative: harmful content)."
            )
        if entry["applies_to"] not in RUBRIC_APPLIES_TO:
            errors.append(
                f"rubric item {entry.get('key') or number}: applies_to must be "
                f"{' or '.join(RUBRIC_APPLIES_TO)}."
            )
    return errors


def key_facts_errors(value) -> list[str]:
    """What is wrong with a list of key facts (empty: nothing)."""
    errors, entries = _keyed_list_errors(
        value, fields={"key", "text", "patterns"}, what="key fact"
    )
    for number, entry in enumerate(entries, 1):
        patterns = entry["patterns"]
        if (
            not isinstance(patterns, list)
            or not patterns
            or not all(isinstance(p, str) and p.strip() for p in patterns)
        ):
            errors.append(
                f"key fact {entry.get('key') or number}: patterns must be a list of one "
                "phrase or more."
            )
    return errors
