"""Writes of the study builder's translation page (studies.views_translations): the
study's texts in one of its other languages (StudyTranslation: consent, instructions,
questions, the screening question and the attention check with their options' labels,
care levels, arm labels), with who translated them and how.

A translation may be corrected at any time, as the screening page lets the questions'
wording be corrected: a participant reads a text when they reach it, so a correction
reaches those who read it afterwards. Every save is on the study's history and audit
trail (audit.models registers StudyTranslation), with who and the texts before and after.
What is refused: a study out of draft left with a gap in one of its languages (its
participants would read that text in the source language; studies.translations).

Saving records the source the translation was made from (its digest): an edit of the
source afterwards shows it as out of date, on this page and in the admin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from studyapp.studies import translation_sources
from studyapp.studies.history import config_save
from studyapp.studies.models import Study, StudyTranslation, Translation
from studyapp.studies.translation_sources import study_source
from studyapp.studies.translations import study_translation_gaps

PROVENANCE_FIELDS = Translation.PROVENANCE_FIELDS
TEXT_FIELDS = StudyTranslation.TEXT_FIELDS
TRANSLATION_FIELDS = (*PROVENANCE_FIELDS, *TEXT_FIELDS)


SOURCE_CHANGED = (
    "The study's texts changed while this page was open (an option, a level or an arm may "
    "have been added, removed or reworded), so a field may no longer translate the text "
    "above it. Nothing was saved: check each field against its source and save again."
)


def page_digest(study: Study) -> str:
    """The digest of what the translation page shows of `study` now: the source texts and
    the order of its options, levels and arms (translation_sources.page_digest)."""
    order = {
        "screening": [str(o.get("value")) for o in study.screening_options],
        "check": list(study.check_options),
        "levels": [level.code for level in study.disposition_scale.levels.all()],
        "arms": list(study.arms.order_by("key").values_list("key", flat=True)),
    }
    return translation_sources.page_digest(source=study_source(study), order=order)


class NotALanguageOfTheStudy(Exception):
    """The language is not one the study offers after its first (nothing to translate)."""


def translation_languages(study: Study) -> list[str]:
    """The languages a study's texts are translated into: all but its first."""
    return list((study.languages or [])[1:])


@transaction.atomic
def study_translation_save(
    *,
    study_id: int,
    language: str,
    data: Mapping[str, Any],
    made_from: str = "",
    by=None,
) -> StudyTranslation:
    """Create or change the study's translation into `language` (`data`: some of the
    TRANSLATION_FIELDS), under the study's row lock. `made_from`: the source digest the
    page was made from (`page_digest`), refused when the source has changed since,
    since the form's fields follow the options, levels and arms by position.
    ValidationError naming the field at fault (the model's checks); for a study out of
    draft, one listing what would be missing. Saving says the translation matches the
    source as it is now."""
    unknown = set(data) - set(TRANSLATION_FIELDS)
    if unknown:
        raise ValueError(f"not a field of this page: {sorted(unknown)}")
    study = Study.objects.select_for_update().get(pk=study_id)
    if language not in translation_languages(study):
        raise NotALanguageOfTheStudy(language)
    if made_from and made_from != page_digest(study):
        raise ValidationError(SOURCE_CHANGED)
    translation = StudyTranslation.objects.filter(study=study, language=language).first()
    if translation is None:
        translation = StudyTranslation(study=study, language=language)
    for name, value in data.items():
        setattr(translation, name, value)
    translation.full_clean(exclude=["source_digest"])
    if study.status != Study.Status.DRAFT:
        gaps_refuse(study, study_translation_gaps(study, translation))
    translation_write(translation, fields=data, by=by)
    return translation


def gaps_refuse(study: Study, gaps: list[str]) -> None:
    """ValidationError listing `gaps`, if any: a study out of draft may not be left with
    one (its participants would read those texts in its first language)."""
    if gaps:
        raise ValidationError(
            f"The study is {study.get_status_display().lower()}: its participants would "
            f"read these in {study.languages[0]}. Translate {'; '.join(gaps)}."
        )


def translation_write(translation: Translation, *, fields: Iterable[str], by=None) -> None:
    """Save a translation, validated, as matching its source as it is now: a new one
    created, a changed one's `fields` written (config_save), each with `by` on its
    history and audit entry."""
    translation.record_source()
    if translation._state.adding:
        if by is not None:
            translation._history_user = by
        translation.save()
    else:
        config_save(translation, fields=[*fields, "source_digest"], by=by)
