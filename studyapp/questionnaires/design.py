"""A study's questionnaires in its design file (studies.design_files): the section
`"questionnaires": [{key, title, intro, placement, position, "items": [{key, kind, text,
..., "condition": {"item": an earlier item's key, "values": [...]} or null}],
"translations": [{language, method, translated_by, ..., source_digest, title, intro,
items}]}]` (translations: QuestionnaireTranslation, items by key; optional, so files
written before they existed still import).

Left out, and why (tests/questionnaires/test_design.py checks every field is written or
named here): ids and timestamps; the `study` and `questionnaire` links (the nesting says
them); an item's `condition_item` and `condition_values`, written together as its
`condition` by the earlier item's key. Responses are data, not design. A translation keeps
its `source_digest` (out of date in the original, out of date in the copy; empty in a
hand-written file: made from the source as it is now), as the study's translations do.

A file without the section (written before questionnaires existed) imports as a study
without questionnaires.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models

from studyapp.questionnaires import services
from studyapp.questionnaires.models import Item, Questionnaire, QuestionnaireTranslation
from studyapp.studies.design_files import TRANSLATION_FIELDS
from studyapp.studies.models import Study

SECTION = "questionnaires"
QUESTIONNAIRE_FIELDS = ("key", "title", "intro", "placement", "position")
ITEM_FIELDS = (
    "key",
    "position",
    "kind",
    "text",
    "required",
    "options",
    "min_value",
    "max_value",
    "scale_points",
    "anchor_low",
    "anchor_high",
)
QUESTIONNAIRE_TRANSLATION_FIELDS = (*TRANSLATION_FIELDS, "title", "intro", "items")
WRITTEN: dict[type[models.Model], tuple[str, ...]] = {
    Questionnaire: QUESTIONNAIRE_FIELDS,
    Item: ITEM_FIELDS,
    QuestionnaireTranslation: QUESTIONNAIRE_TRANSLATION_FIELDS,
}
LEFT_OUT: dict[type[models.Model], frozenset[str]] = {
    Questionnaire: frozenset({"id", "created_at", "updated_at", "study"}),
    Item: frozenset(
        {"id", "created_at", "updated_at", "questionnaire", "condition_item", "condition_values"}
    ),
    QuestionnaireTranslation: frozenset({"id", "created_at", "updated_at", "questionnaire"}),
}


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime.date) else copy.deepcopy(value)


def questionnaires_export(study: Study) -> list[dict[str, Any]]:
    """Three queries, whatever the number of items and translations."""
    items = Item.objects.select_related("condition_item").order_by("position", "pk")
    questionnaires = (
        Questionnaire.objects.filter(study=study)
        .order_by("placement", "position", "key")
        .prefetch_related(
            models.Prefetch("items", queryset=items),
            models.Prefetch(
                "translations", queryset=QuestionnaireTranslation.objects.order_by("language")
            ),
        )
    )
    return [
        {
            **{name: getattr(q, name) for name in QUESTIONNAIRE_FIELDS},
            "items": [
                {
                    **{name: getattr(item, name) for name in ITEM_FIELDS},
                    "condition": {
                        "item": item.condition_item.key,
                        "values": list(item.condition_values),
                    }
                    if item.condition_item_id
                    else None,
                }
                for item in q.items.all()
            ],
            "translations": [
                {name: _json(getattr(t, name)) for name in QUESTIONNAIRE_TRANSLATION_FIELDS}
                for t in q.translations.all()
            ],
        }
        for q in questionnaires
    ]


def _where(spec: Any, index: int, prefix: str) -> str:
    key = spec.get("key") if isinstance(spec, dict) else None
    return f"{prefix}[{key if isinstance(key, str) and key else index}]"


def questionnaires_check(section: Any) -> list[str]:
    """The section's shape: every field present (the models check the values)."""
    if not isinstance(section, list):
        return [f"{SECTION}: a list"]
    errors = []
    for i, spec in enumerate(section):
        where = _where(spec, i, SECTION)
        if not isinstance(spec, dict):
            errors.append(f"{where}: an object")
            continue
        missing = [f for f in (*QUESTIONNAIRE_FIELDS, "items") if f not in spec]
        if missing:
            errors.append(f"{where}: missing {', '.join(missing)}")
        if not isinstance(spec.get("items", []), list):
            errors.append(f"{where}.items: a list")
            continue
        errors += _translations_check(spec.get("translations", []), where)
        for j, item in enumerate(spec.get("items", [])):
            item_where = _where(item, j, f"{where}.items")
            if not isinstance(item, dict):
                errors.append(f"{item_where}: an object")
                continue
            missing = [f for f in (*ITEM_FIELDS, "condition") if f not in item]
            if missing:
                errors.append(f"{item_where}: missing {', '.join(missing)}")
            condition = item.get("condition")
            if condition is not None and not (
                isinstance(condition, dict)
                and isinstance(condition.get("item"), str)
                and isinstance(condition.get("values"), list)
            ):
                errors.append(f"{item_where}.condition: null or {{item, values}}")
    return errors


def _translations_check(translations: Any, where: str) -> list[str]:
    if not isinstance(translations, list):
        return [f"{where}.translations: a list"]
    errors = []
    for i, spec in enumerate(translations):
        language = spec.get("language") if isinstance(spec, dict) else None
        t_where = f"{where}.translations[{language if isinstance(language, str) else i}]"
        if not isinstance(spec, dict):
            errors.append(f"{t_where}: an object")
            continue
        missing = [f for f in QUESTIONNAIRE_TRANSLATION_FIELDS if f not in spec]
        if missing:
            errors.append(f"{t_where}: missing {', '.join(missing)}")
        unknown = sorted(set(spec) - set(QUESTIONNAIRE_TRANSLATION_FIELDS))
        if unknown:
            errors.append(f"{t_where}: unknown field(s) {', '.join(unknown)}")
        texts = [f for f in QUESTIONNAIRE_TRANSLATION_FIELDS if f != "items" and f in spec]
        wrong = [f for f in texts if not isinstance(spec[f], str)]
        if wrong:
            errors.append(f"{t_where}: {', '.join(wrong)} must be text")
    return errors


def _translations_import(
    questionnaire: Questionnaire, specs: Sequence[Mapping[str, Any]], where: str
) -> list[str]:
    """After the questionnaire's items: a translation's digest is of them."""
    errors = []
    for spec in specs:
        translation = QuestionnaireTranslation(
            questionnaire=questionnaire,
            **{name: spec[name] for name in QUESTIONNAIRE_TRANSLATION_FIELDS},
        )
        t_where = f"{where}.translations[{spec['language']}]"
        try:
            translation.full_clean(exclude=["source_digest"])
        except ValidationError as exc:
            errors += _errors(exc, t_where)
            continue
        if not translation.source_digest:
            translation.record_source()
        translation.save()
    return errors


def _errors(exc: ValidationError, where: str) -> list[str]:
    if not hasattr(exc, "error_dict"):
        return [f"{where}: {m}" for m in exc.messages]
    return [
        f"{where if field == NON_FIELD_ERRORS else f'{where}.{field}'}: {message}"
        for field, messages in exc.message_dict.items()
        for message in messages
    ]


def questionnaires_import(
    *, study: Study, section: Sequence[Mapping[str, Any]], errors: list[str]
) -> None:
    """Create the section's questionnaires and items (after questionnaires_check), adding
    each problem to `errors` by object and field."""
    for i, spec in enumerate(section):
        where = _where(spec, i, SECTION)
        try:
            questionnaire = services.questionnaire_create(
                study=study,
                key=spec["key"],
                title=spec["title"],
                placement=spec["placement"],
                intro=spec["intro"],
            )
        except ValidationError as exc:
            errors += _errors(exc, where)
            continue
        if questionnaire.position != spec["position"]:
            questionnaire.position = spec["position"]
            questionnaire.save(update_fields=["position", "updated_at"])
        by_key: dict[str, Item] = {}
        for j, item_spec in enumerate(spec["items"]):
            item_where = _where(item_spec, j, f"{where}.items")
            data: dict[str, Any] = {f: item_spec[f] for f in ITEM_FIELDS if f != "position"}
            condition = item_spec["condition"]
            if condition is not None:
                source = by_key.get(condition["item"])
                if source is None:
                    errors.append(f"{item_where}.condition: no earlier item {condition['item']!r}")
                    continue
                data["condition_item"] = source
                data["condition_values"] = [str(v) for v in condition["values"]]
            try:
                item = services.item_create(questionnaire_id=questionnaire.pk, data=data)
            except ValidationError as exc:
                errors += _errors(exc, item_where)
                continue
            if item.position != item_spec["position"]:
                item.position = item_spec["position"]
                item.save(update_fields=["position", "updated_at"])
            by_key[item.key] = item
        errors += _translations_import(questionnaire, spec.get("translations", []), where)
