"""Forms of the builder's disposition scale pages (studies.views_scales). The levels are
posted as rows (parallel lists, in page order, most acute first), as a scenario's
sections are; the row buttons post the form back to be re-rendered with the rows
changed (forms_builder.sections_apply's verbs)."""

from __future__ import annotations

from django import forms
from django.utils.text import slugify

from studyapp.studies.models import DispositionLevel, DispositionScale

BLANK_LEVEL = {"id": "", "label": "", "code": "", "description": ""}


class ScaleForm(forms.Form):
    name = forms.CharField(
        max_length=200, help_text="What investigators see when they choose a scale."
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Where the scale comes from, and what it is for.",
    )


def levels_initial(scale: DispositionScale | None, *, with_ids: bool) -> list[dict[str, str]]:
    """The scale's levels as rows, most acute first (a copy's rows carry no ids)."""
    if scale is None:
        return [dict(BLANK_LEVEL), dict(BLANK_LEVEL)]
    return [
        {
            "id": str(level.pk) if with_ids else "",
            "label": level.label,
            "code": level.code,
            "description": level.description,
        }
        for level in DispositionLevel.objects.filter(scale=scale).order_by("-value")
    ]


def levels_from_post(data) -> list[dict[str, str]]:
    """The rows as posted, stripped."""
    columns = [data.getlist(f"level_{name}") for name in ("id", "label", "code", "description")]
    return [
        {"id": i.strip(), "label": label.strip(), "code": code.strip(), "description": d.strip()}
        for i, label, code, d in zip(*columns, strict=False)
    ]


def levels_apply(levels: list[dict[str, str]], action: str) -> list[dict[str, str]]:
    """Add, remove or move a row ("add", "remove-2", "up-2", "down-2")."""
    levels = list(levels)
    verb, _, index_text = action.partition("-")
    if verb == "add":
        return [*levels, dict(BLANK_LEVEL)]
    if not index_text.isdigit() or int(index_text) >= len(levels):
        return levels
    i = int(index_text)
    if verb == "remove":
        del levels[i]
    elif verb == "up" and i > 0:
        levels[i - 1], levels[i] = levels[i], levels[i - 1]
    elif verb == "down" and i < len(levels) - 1:
        levels[i + 1], levels[i] = levels[i], levels[i + 1]
    return levels


def levels_values(levels: list[dict[str, str]]) -> list[dict]:
    """What the services take: a code made from the label where none was given, and
    the level's id (an int) where the row had one."""
    return [
        {
            "id": int(row["id"]) if row["id"].isdigit() else None,
            "label": row["label"],
            "code": row["code"] or slugify(row["label"])[:50],
            "description": row["description"],
        }
        for row in levels
    ]
