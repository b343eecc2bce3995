"""Writes of the builder's scenario translation page (studies.views_translations): one
scenario version's title and sections in one of its study's other languages
(ScenarioTranslation), with who translated it and how.

The rules are the study's texts' (studies.builder_translations): a translation may be
corrected at any time; a study out of draft may not be left with a gap (its participants
in that language would read the scenario in the source language); every save is on the
study's history and audit trail (audit.models registers ScenarioTranslation); saving
records the digest of the source it translates, so an edit of the scenario afterwards
shows it as out of date.

One rule is the scenarios' own (studies.builder.scenario_save): what participants read is
kept as they read it. Once participants in this language have a task on the version,
saving its translation makes the scenario's next version, as an edit of the scenario
does (its other translations come along), and the translation is saved on that one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from studyapp.studies import translation_sources
from studyapp.studies.builder_translations import (
    PROVENANCE_FIELDS,
    NotALanguageOfTheStudy,
    gaps_refuse,
    translation_languages,
    translation_write,
)
from studyapp.studies.models import Scenario, ScenarioTranslation, Study
from studyapp.studies.services import scenario_create_new_version
from studyapp.studies.translation_sources import scenario_source
from studyapp.studies.translations import scenario_translation_gaps

TRANSLATION_FIELDS = (*PROVENANCE_FIELDS, "title", "sections")

SOURCE_CHANGED = (
    "The scenario changed while this page was open (a section may have been added, "
    "removed, moved or reworded), so a field may no longer translate the text above it. "
    "Nothing was saved: check each field against its source and save again."
)
SUPERSEDED = (
    "This is an earlier version of the scenario: participants now read a later one. "
    "Translate the active version."
)


def page_digest(scenario: Scenario) -> str:
    """The digest of what the scenario translation page shows (translation_sources.
    page_digest): the scenario's title and sections. The sections are a list, so the
    source carries the order the page's fields follow them in."""
    return translation_sources.page_digest(source=scenario_source(scenario), order=None)


def read_in(scenario: Scenario, language: str) -> bool:
    """Whether participants taking part in `language` have a task on this version."""
    # The reverse relation by name: studies must not import the participation app.
    return scenario.tasks.filter(participant__language=language).exists()


@transaction.atomic
def scenario_translation_save(
    *,
    study_id: int,
    scenario_id: int,
    language: str,
    data: Mapping[str, Any],
    made_from: str = "",
    by=None,
) -> ScenarioTranslation:
    """Create or change the translation of scenario version `scenario_id` into `language`
    (`data`: some of TRANSLATION_FIELDS), under the study's row lock (its status says
    whether a gap may be left; the launch reads translations under it) and the
    scenario's (its text is what the translation was checked against). `made_from`: the
    page's digest (`page_digest`), refused when the scenario changed since.
    ValidationError naming the field at fault; for a study out of draft, one listing what
    would be missing. Returns the translation saved: on a new version of the scenario
    when participants in this language read this one."""
    unknown = set(data) - set(TRANSLATION_FIELDS)
    if unknown:
        raise ValueError(f"not a field of this page: {sorted(unknown)}")
    study = Study.objects.select_for_update().get(pk=study_id)
    if language not in translation_languages(study):
        raise NotALanguageOfTheStudy(language)
    scenario = Scenario.objects.select_for_update().get(pk=scenario_id, study=study)
    if not scenario.is_active:
        raise ValidationError(SUPERSEDED)
    if made_from and made_from != page_digest(scenario):
        raise ValidationError(SOURCE_CHANGED)
    translation = _changed(scenario, language, data)
    translation.full_clean(exclude=["source_digest"])
    if study.status != Study.Status.DRAFT:
        gaps_refuse(study, scenario_translation_gaps(scenario, translation))
    if read_in(scenario, language):
        # Validated above, so a refused save makes no version.
        scenario = scenario_create_new_version(scenario_id=scenario.pk)
        translation = _changed(scenario, language, data)
    translation_write(translation, fields=data, by=by)
    return translation


def _changed(scenario: Scenario, language: str, data: Mapping[str, Any]) -> ScenarioTranslation:
    """The scenario's translation into `language` (a new one if it has none) with `data`
    set, unsaved."""
    translation = ScenarioTranslation.objects.filter(scenario=scenario, language=language).first()
    if translation is None:
        translation = ScenarioTranslation(scenario=scenario, language=language)
    for name, value in data.items():
        setattr(translation, name, value)
    return translation
