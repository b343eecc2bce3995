"""Writes for questionnaires: the investigators' builder and the participants' answers.

Once anyone has answered a questionnaire it is frozen: every builder write refuses with
QuestionnaireLockedError. Refused rather than versioned, because each stored answer points
at its item, and the exports and data dictionary describe an item by its one text,
options and coding; a questionnaire changed mid-study would pool answers to different
questions under one column. To ask something else, add a new questionnaire (a new key,
new columns). The check runs under the questionnaire's row lock, which a participant's
first response (its foreign key) waits for, so an edit and a first answer never cross.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from studyapp.participation.models import Participant, Task
from studyapp.questionnaires.models import (
    Item,
    ItemAnswer,
    Questionnaire,
    QuestionnaireTranslation,
    Response,
)
from studyapp.questionnaires.translations import page_digest
from studyapp.questionnaires.validation import Kind
from studyapp.studies.models import Study

logger = logging.getLogger(__name__)


class QuestionnaireLockedError(Exception):
    """The questionnaire has answers: its configuration can no longer change."""

    def __init__(self) -> None:
        super().__init__(
            "Participants have answered this questionnaire, so it can no longer be "
            "changed: add a new questionnaire instead."
        )


class ItemInUseError(Exception):
    """Another item's display condition depends on this one."""


def _key_free(queryset, key: str, exclude_pk: int | None, what: str) -> None:
    """A taken key said beside the key field (the unique constraint alone would say it
    for the form as a whole)."""
    if queryset.filter(key=key).exclude(pk=exclude_pk).exists():
        raise ValidationError({"key": f"Another {what} has this key."})


def _lock(questionnaire_id: int) -> Questionnaire:
    questionnaire = Questionnaire.objects.select_for_update().get(pk=questionnaire_id)
    if Response.objects.filter(questionnaire=questionnaire).exists():
        raise QuestionnaireLockedError()
    return questionnaire


# --- The builder ------------------------------------------------------------------------


@transaction.atomic
def questionnaire_create(
    *, study: Study, key: str, title: str, placement: str, intro: str = ""
) -> Questionnaire:
    last = Questionnaire.objects.filter(study=study, placement=placement).aggregate(
        m=Max("position")
    )["m"]
    questionnaire = Questionnaire(
        study=study,
        key=key,
        title=title,
        intro=intro,
        placement=placement,
        position=0 if last is None else last + 1,
    )
    _key_free(study.questionnaires.all(), key, None, "questionnaire of this study")
    questionnaire.full_clean()
    questionnaire.save()
    return questionnaire


@transaction.atomic
def questionnaire_update(
    *, questionnaire_id: int, key: str, title: str, placement: str, intro: str = ""
) -> Questionnaire:
    questionnaire = _lock(questionnaire_id)
    questionnaire.key, questionnaire.title = key, title
    questionnaire.placement, questionnaire.intro = placement, intro
    _key_free(
        Questionnaire.objects.filter(study_id=questionnaire.study_id),
        key,
        questionnaire.pk,
        "questionnaire of this study",
    )
    questionnaire.full_clean()
    questionnaire.save()
    return questionnaire


@transaction.atomic
def questionnaire_delete(*, questionnaire_id: int) -> None:
    questionnaire = _lock(questionnaire_id)
    # Conditions point backwards: delete the last items first (PROTECT on the condition).
    for item in questionnaire.items.order_by("-position", "-pk"):
        item.delete()
    questionnaire.delete()


ITEM_FIELDS = (
    "key",
    "kind",
    "text",
    "required",
    "options",
    "min_value",
    "max_value",
    "scale_points",
    "anchor_low",
    "anchor_high",
    "condition_item",
    "condition_values",
)


def _item_apply(item: Item, data: Mapping[str, Any]) -> None:
    for name in ITEM_FIELDS:
        if name in data:
            setattr(item, name, data[name])
    # Fields another kind would carry are cleared, not kept out of sight.
    if item.kind not in (Kind.SINGLE, Kind.MULTIPLE):
        item.options = []
    if item.kind != Kind.NUMBER:
        item.min_value = item.max_value = None
    if item.kind != Kind.LIKERT:
        item.scale_points = None
        item.anchor_low = item.anchor_high = ""
    if item.condition_item is None:
        item.condition_values = []


@transaction.atomic
def item_create(*, questionnaire_id: int, data: Mapping[str, Any]) -> Item:
    questionnaire = _lock(questionnaire_id)
    last = questionnaire.items.aggregate(m=Max("position"))["m"]
    item = Item(questionnaire=questionnaire, position=0 if last is None else last + 1)
    _item_apply(item, data)
    _key_free(questionnaire.items.all(), item.key, None, "item of this questionnaire")
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def item_update(*, item_id: int, data: Mapping[str, Any]) -> Item:
    item = Item.objects.select_related("questionnaire").get(pk=item_id)
    _lock(item.questionnaire_id)
    _item_apply(item, data)
    _key_free(
        Item.objects.filter(questionnaire_id=item.questionnaire_id),
        item.key,
        item.pk,
        "item of this questionnaire",
    )
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def item_delete(*, item_id: int) -> None:
    item = Item.objects.get(pk=item_id)
    _lock(item.questionnaire_id)
    if item.dependents.exists():
        raise ItemInUseError(
            "A later item is shown depending on this one: change or delete that item first."
        )
    item.delete()


@transaction.atomic
def item_move(*, item_id: int, up: bool) -> Item:
    """Swap the item with its neighbour. A condition must keep pointing back, so a move
    that would put an item before the one it depends on (or after one depending on it)
    is refused."""
    item = Item.objects.get(pk=item_id)
    _lock(item.questionnaire_id)
    items = list(
        Item.objects.filter(questionnaire_id=item.questionnaire_id).order_by("position", "pk")
    )
    index = next(i for i, it in enumerate(items) if it.pk == item.pk)
    other_index = index - 1 if up else index + 1
    if not 0 <= other_index < len(items):
        return item
    other = items[other_index]
    first, second = (other, item) if up else (item, other)
    if second.condition_item_id == first.pk:
        raise ItemInUseError("An item must stay after the item its condition depends on.")
    items[index], items[other_index] = other, item
    for position, it in enumerate(items):
        if it.position != position:
            it.position = position
            it.save(update_fields=["position", "updated_at"])
    return item


# --- Translations ----------------------------------------------------------------------


class TranslationLockedError(Exception):
    """Participants have answered the questionnaire in this language."""

    def __init__(self) -> None:
        super().__init__(
            "Participants have answered this questionnaire in this language, so its "
            "translation stays as they read it."
        )


TRANSLATION_FIELDS = (
    "method",
    "translated_by",
    "reviewed_by",
    "translated_on",
    "notes",
    "title",
    "intro",
    "items",
)


def _translation_lock(questionnaire_id: int, language: str) -> QuestionnaireTranslation | None:
    """The questionnaire's row lock (a first response waits for it, as for the builder's
    writes), then the translation, refused once someone answered in its language. A
    missing language may still be added, as a scenario's may (whoever answered before
    read the source, and their Response.language says so)."""
    Questionnaire.objects.select_for_update().get(pk=questionnaire_id)
    translation = QuestionnaireTranslation.objects.filter(
        questionnaire_id=questionnaire_id, language=language
    ).first()
    if (
        translation is not None
        and Response.objects.filter(questionnaire_id=questionnaire_id, language=language).exists()
    ):
        raise TranslationLockedError()
    return translation


SOURCE_CHANGED = (
    "The questionnaire changed while this page was open (an item or an option may have "
    "been added, removed, reordered or reworded), so a field may no longer translate the "
    "text above it. Nothing was saved: check each field against its source and save again."
)


@transaction.atomic
def questionnaire_translation_save(
    *, questionnaire_id: int, language: str, data: Mapping[str, Any], made_from: str = ""
) -> QuestionnaireTranslation:
    """Create or replace the questionnaire's translation into `language` (`data`: the
    TRANSLATION_FIELDS). `made_from`: the digest the translation page was made from
    (translations.page_digest), refused when the questionnaire changed since, since the
    page's fields follow options by position. Saving says it matches the source as it is
    now (its digest)."""
    existing = _translation_lock(questionnaire_id, language)
    if made_from:
        questionnaire = Questionnaire.objects.get(pk=questionnaire_id)
        if made_from != page_digest(questionnaire, list(questionnaire.items.all())):
            raise ValidationError(SOURCE_CHANGED)
    translation = existing or QuestionnaireTranslation(
        questionnaire_id=questionnaire_id, language=language
    )
    for name in TRANSLATION_FIELDS:
        if name in data:
            setattr(translation, name, data[name])
    translation.full_clean(exclude=["source_digest"])
    translation.record_source()
    translation.save()
    return translation


@transaction.atomic
def questionnaire_translation_delete(*, questionnaire_id: int, language: str) -> None:
    translation = _translation_lock(questionnaire_id, language)
    if translation is not None:
        translation.delete()


# --- Participants' answers --------------------------------------------------------------


def _language_read(questionnaire: Questionnaire, language: str) -> str:
    """The language the participant read the questionnaire in: theirs where it has a
    translation into it, else the study's first (questionnaires.translations)."""
    languages = questionnaire.study.languages or [language]
    if language == languages[0] or questionnaire.translations.filter(language=language).exists():
        return language
    return languages[0]


def response_store(
    *,
    participant: Participant,
    questionnaire: Questionnaire,
    task: Task | None,
    items: Sequence[Item],
    values: Mapping[str, Any],
) -> Response:
    """Store a checked response (validation.answers_clean's values) with one row per
    answer. The caller holds the participant's row lock in a transaction: a double submit
    waits, then gets the first response back; the unique constraints back that up."""
    existing = Response.objects.filter(
        questionnaire=questionnaire, participant=participant, task=task
    ).first()
    if existing is not None:
        return existing
    response = Response.objects.create(
        questionnaire=questionnaire,
        participant=participant,
        task=task,
        language=_language_read(questionnaire, participant.language),
    )
    rows = []
    for item in items:
        if item.key not in values:
            continue
        value = values[item.key]
        row = ItemAnswer(response=response, item=item)
        if item.kind in (Kind.LIKERT, Kind.NUMBER):
            row.number = float(value)
        elif item.kind == Kind.MULTIPLE:
            row.choices = list(value)
        else:
            row.text = str(value)
        rows.append(row)
    ItemAnswer.objects.bulk_create(rows)
    logger.info(
        "participant %s answered questionnaire %s (%d items)",
        participant.pk,
        questionnaire.pk,
        len(rows),
    )
    return response
