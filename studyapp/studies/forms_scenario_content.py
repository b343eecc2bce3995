"""The scenario page's key fact and rubric rows (studies.views_builder): what the page
posts, back into `Scenario.key_facts` and `Scenario.rubric` (studies.content), and the
content checks' messages put beside the row and field at fault.

Rows are posted as parallel lists, in page order, as the sections are: `fact_key`,
`fact_text`, `fact_patterns` (one phrase per line); `rubric_key`, `rubric_text`,
`rubric_points`, `rubric_applies_to`. A row left wholly empty (an added one not filled in)
is left out. A key left empty is made from the text. The page carries `key_facts_shown` and
`rubric_shown`: a POST without them (a page from before these editors) keeps the
scenario's own, as that page said it would.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.utils.text import slugify

from studyapp.studies.content import (
    RUBRIC_APPLIES_TO,
    RowError,
    key_facts_row_errors,
    rubric_row_errors,
)
from studyapp.studies.forms_builder import lines_parse

Row = dict[str, str]
# Slugs made from a text are cut here: a key names the fact in exports, not the fact.
KEY_FROM_TEXT_CHARS = 40
_WHOLE_NUMBER = re.compile(r"^[-+]?\d+\Z")

FACT_FIELDS = ("key", "text", "patterns")
RUBRIC_FIELDS = ("key", "text", "points", "applies_to")
# The choices of `applies_to`, in content's order, as the page says them.
RUBRIC_APPLIES_TO_LABELS = dict(
    zip(
        RUBRIC_APPLIES_TO,
        (
            "The model's turns of the chat",
            "The final answer (the care option and conditions given)",
        ),
        strict=True,
    )
)


def _blank(fields: tuple[str, ...]) -> Row:
    return dict.fromkeys(fields, "") | ({"applies_to": "model"} if "applies_to" in fields else {})


def key_fact_rows(facts: list[dict]) -> list[Row]:
    """A scenario's key facts as the page's rows (its phrases one per line)."""
    return [
        {"key": f["key"], "text": f["text"], "patterns": "\n".join(f["patterns"])} for f in facts
    ]


def rubric_rows(rubric: list[dict]) -> list[Row]:
    return [
        {
            "key": item["key"],
            "text": item["text"],
            "points": str(item["points"]),
            "applies_to": item["applies_to"],
        }
        for item in rubric
    ]


def _rows_from_post(data, prefix: str, fields: tuple[str, ...]) -> list[Row]:
    columns = [data.getlist(f"{prefix}_{name}") for name in fields]
    return [
        {name: value.strip() for name, value in zip(fields, values, strict=True)}
        for values in zip(*columns, strict=False)
    ]


def key_fact_rows_from_post(data) -> list[Row] | None:
    """The key fact rows as posted; None when the page had no key fact editor."""
    if "key_facts_shown" not in data:
        return None
    return _rows_from_post(data, "fact", FACT_FIELDS)


def rubric_rows_from_post(data) -> list[Row] | None:
    if "rubric_shown" not in data:
        return None
    return _rows_from_post(data, "rubric", RUBRIC_FIELDS)


def rows_apply(rows: list[Row], action: str, fields: tuple[str, ...]) -> list[Row]:
    """Add a row or remove one (the page's buttons: "add", "remove-2")."""
    verb, _, index_text = action.partition("-")
    if verb == "add":
        return [*rows, _blank(fields)]
    if verb == "remove" and index_text.isdigit() and int(index_text) < len(rows):
        return [row for i, row in enumerate(rows) if i != int(index_text)]
    return rows


def _key_from_text(row: Row) -> None:
    # Shown on the page once made, so the investigator sees the name the data will use.
    if not row["key"] and row["text"]:
        row["key"] = slugify(row["text"])[:KEY_FROM_TEXT_CHARS].strip("-")


def _points(text: str) -> int | str:
    # Anything but a whole number is passed on as typed, for the content check to refuse.
    return int(text) if _WHOLE_NUMBER.match(text) else text


def _parsed(
    rows: list[Row],
    fields: tuple[str, ...],
    entry: Callable[[Row], dict],
    check: Callable[[list[dict]], list[RowError]],
) -> tuple[list[dict], dict[int, dict[str, str]]]:
    """The entries of the rows not left empty, and the content check's messages by row
    index (on the page) and field ("row": the entry as a whole)."""
    kept = [i for i, row in enumerate(rows) if any(row[f] for f in fields if f != "applies_to")]
    for i in kept:
        _key_from_text(rows[i])
    entries = [entry(rows[i]) for i in kept]
    errors: dict[int, dict[str, str]] = {}
    for error in check(entries):
        by_field = errors.setdefault(kept[error.index], {})
        field = error.field or "row"
        message = error.message[:1].upper() + error.message[1:]
        by_field[field] = f"{by_field[field]} {message}" if field in by_field else message
    return entries, errors


def key_facts_parse(rows: list[Row]) -> tuple[list[dict], dict[int, dict[str, str]]]:
    """`Scenario.key_facts` from the page's rows, and the messages by row and field."""
    return _parsed(
        rows,
        FACT_FIELDS,
        lambda row: {
            "key": row["key"],
            "text": row["text"],
            "patterns": lines_parse(row["patterns"]),
        },
        key_facts_row_errors,
    )


def rubric_parse(rows: list[Row]) -> tuple[list[dict], dict[int, dict[str, str]]]:
    """`Scenario.rubric` from the page's rows, and the messages by row and field."""
    return _parsed(
        rows,
        RUBRIC_FIELDS,
        lambda row: {
            "key": row["key"],
            "text": row["text"],
            "points": _points(row["points"]),
            "applies_to": row["applies_to"],
        },
        rubric_row_errors,
    )
