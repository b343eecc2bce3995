"""Disposition scales made and changed in the study builder (studies.views_scales).

A scale is shared: any study may choose any scale, so who may change one, and when,
is decided here, once:

- a scale made in the builder records its `owner`, the only one who may change it
  there; a built-in or admin-made scale (no owner) is never changed in the builder:
  it is copied instead;
- a scale is changed only while nothing has used it: every study that chose it is a
  draft nobody entered (previews aside), its owner may change each of them, and no
  answer or evaluation item chose one of its levels (their data would change meaning).

Levels are written in the page's order, most acute first: `value` is the rank
(analysis and scoring compare values: a higher one is more acute, over-triage is a
chosen value above the gold one), so the last row is 0. A level keeps its row (and the
scenarios whose gold disposition it is) across edits, its code and label included;
removing a level a scenario points at is refused on that row.

Both scale and levels are on the audit trail (audit.models registers them with
django-simple-history; their entries go on the global chain, as endpoints' do).
"""

from __future__ import annotations

import re
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from studyapp.studies import roles
from studyapp.studies.builder import study_started
from studyapp.studies.models import DispositionLevel, DispositionScale, Scenario, Study

LEVEL_FIELDS = ("code", "label", "description")
SLUG_RE = re.compile(r"[-a-zA-Z0-9_]+")


class LevelErrors(Exception):
    """Messages per row (index in the page's order) and field of the levels."""

    def __init__(self, rows: dict[int, dict[str, str]]):
        super().__init__(rows)
        self.rows = rows


def scale_editable_reason(scale: DispositionScale, user) -> str | None:
    """Why `user` may not change `scale` in the builder, in their words; None: they may.
    (Whether they may see the edit page at all is the view's: owners only.)"""
    if scale.owner_id is None:
        return "This scale is built in (or made in the admin): copy it to make your own."
    if scale.owner_id != user.pk:
        return "Only the investigator who made this scale changes it: copy it to make yours."
    studies = list(Study.objects.filter(disposition_scale=scale).order_by("slug"))
    started = [s.slug for s in studies if study_started(s)]
    if started:
        return (
            f"Used by {', '.join(started)}, which is live or has participants: its "
            "levels are part of that study's data. Copy it to make a changed scale."
        )
    changeable = set(
        Study.objects.visible_to(user, roles.CHANGE_STUDY)
        .filter(pk__in=[s.pk for s in studies])
        .values_list("pk", flat=True)
    )
    others = [s.slug for s in studies if s.pk not in changeable]
    if others:
        return (
            f"Used by {', '.join(others)}, a study you do not edit: a change would change "
            "its design. Copy the scale to make a changed one."
        )
    if scale_levels_chosen(scale):
        return (
            "Answers or evaluations (a preview's too) chose its levels: they must keep "
            "their meaning. Copy the scale to make a changed one."
        )
    return None


def scale_levels_chosen(scale: DispositionScale) -> bool:
    """Whether an answer or an evaluation item chose one of the scale's levels."""
    # By the apps' registry: those apps sit above this one and point at its levels.
    answer = apps.get_model("participation", "Answer")
    item = apps.get_model("evaluations", "EvaluationItem")
    return (
        answer.objects.filter(disposition__scale=scale).exists()
        or item.objects.filter(disposition__scale=scale).exists()
    )


def scale_slug_free(name: str) -> str:
    """A slug from the name that no scale has yet (`-2`, `-3` … added as needed)."""
    base = slugify(name)[:44] or "scale"
    slug, n = base, 1
    while DispositionScale.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _check_levels(levels: list[dict[str, Any]]) -> None:
    rows: dict[int, dict[str, str]] = {}
    seen: dict[str, int] = {}
    for i, level in enumerate(levels):
        probe = DispositionLevel(value=0, **{f: level[f] for f in LEVEL_FIELDS})
        try:
            probe.full_clean(exclude=["scale"], validate_unique=False)
        except ValidationError as exc:
            rows[i] = {f: " ".join(m) for f, m in exc.message_dict.items()}
        if not level["label"]:
            rows.setdefault(i, {})["label"] = "Write the level's label."
        if not level["code"]:
            rows.setdefault(i, {})["code"] = "Give a code, or a label to make it from."
        elif not SLUG_RE.fullmatch(level["code"]):
            rows.setdefault(i, {})["code"] = (
                "Letters, digits, - and _ only, e.g. urgent-care (the code names the "
                "level in data and exports)."
            )
        if level["code"] in seen:
            rows.setdefault(i, {})["code"] = (
                f"Row {seen[level['code']] + 1} has this code: each level needs its own."
            )
        seen.setdefault(level["code"], i)
    if rows:
        raise LevelErrors(rows)
    if len(levels) < 2:
        raise ValidationError({"levels": "A scale needs at least two levels."})


@transaction.atomic
def scale_create(
    *, name: str, description: str, levels: list[dict[str, Any]], owner
) -> DispositionScale:
    """A new scale owned by `owner`, its levels in the given order (most acute first).
    ValidationError (name, levels) or LevelErrors (per row) when refused."""
    _check_levels(levels)
    scale = DispositionScale(
        slug=scale_slug_free(name), name=name, description=description, owner=owner
    )
    scale.full_clean()
    scale.save()
    for i, level in enumerate(levels):
        row = DispositionLevel(
            scale=scale, value=len(levels) - 1 - i, **{f: level[f] for f in LEVEL_FIELDS}
        )
        row.full_clean()
        row.save()
    return scale


@transaction.atomic
def scale_update(
    *, scale_id: int, name: str, description: str, levels: list[dict[str, Any]], user
) -> DispositionScale:
    """Change a scale's texts and levels (rows with an `id` keep their level). Refused
    with ValidationError when the scale may not change (scale_editable_reason) and
    with LevelErrors for a row at fault (a removed level a scenario points at too)."""
    scale = DispositionScale.objects.select_for_update().get(pk=scale_id)
    reason = scale_editable_reason(scale, user)
    if reason:
        raise ValidationError(reason)
    _check_levels(levels)
    current = {level.pk: level for level in scale.levels.all()}
    kept = [level.get("id") for level in levels if level.get("id") in current]
    removed = [pk for pk in current if pk not in kept]
    gold = {}
    for pk, key in Scenario.objects.filter(gold_disposition_id__in=removed).values_list(
        "gold_disposition_id", "key"
    ):
        gold.setdefault(pk, []).append(key)
    if gold:
        # The removed rows are not on the page any more: the message goes on the levels.
        names = "; ".join(
            f"{current[pk].label} (scenario {', '.join(sorted(set(keys)))})"
            for pk, keys in gold.items()
        )
        raise ValidationError(
            {
                "levels": (
                    f"A scenario's gold disposition is a level you removed: {names}. "
                    "Keep the level, or change those scenarios first."
                )
            }
        )
    scale.name, scale.description = name, description
    scale.full_clean()
    scale.save()
    for pk in removed:
        current[pk].delete()
    # Out of the way first: a reordering or a swap of codes would meet the unique
    # (scale, value) and (scale, code) constraints half-way. Not on the history: the
    # save below records each level's change from its last recorded state.
    for n, pk in enumerate(kept):
        DispositionLevel.objects.filter(pk=pk).update(value=10000 + n, code=f"_{pk}")
    for i, spec in enumerate(levels):
        level = current.get(spec.get("id")) or DispositionLevel(scale=scale)
        level.value = len(levels) - 1 - i
        for f in LEVEL_FIELDS:
            setattr(level, f, spec[f])
        level.full_clean()
        level.save()
    return scale
