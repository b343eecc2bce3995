"""A questionnaire in the participant's language, and what each language still lacks.

A questionnaire is written in its study's first language (Study.languages[0]); each other
language has a QuestionnaireTranslation holding every text a participant reads (title,
introduction, each item's question, option labels, Likert anchors), with its provenance
and the digest of the source it was made from (studies.models.Translation).

What a participant reads, as for the study's scenarios (studies.translations):

- no translation in their language: the questionnaire as written (the launch checklist
  refuses to launch a study while a language lacks one, so this happens only for a
  questionnaire added to a study already running, or in a preview);
- a translation, current or not: the translation, and for each piece it lacks (an item
  or option added since) the source's text. A translation whose source was edited after
  it was made is shown as out of date on the builder pages, for the investigators to
  check and save again; it is not hidden from participants, because a questionnaire is
  frozen once answered (questionnaires.services), so an edit of the source only ever
  happens before anyone has read either.

Keys and option values never translate: the form submits the source's values, so
answers are stored, scored and exported the same whatever the language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from studyapp.questionnaires.models import Item, Questionnaire, QuestionnaireTranslation
from studyapp.studies import translation_sources
from studyapp.studies.models import Study
from studyapp.studies.translation_sources import digest

ANCHORS = ("anchor_low", "anchor_high")
ITEM_PIECES = frozenset({"text", "options", *ANCHORS})


def item_source(item: Item) -> dict[str, Any]:
    """What a participant reads of an item: only the pieces it has."""
    source: dict[str, Any] = {"text": item.text}
    if item.options:
        source["options"] = {
            str(o.get("value", "")): str(o.get("label", "")) for o in item.options
        }
    for anchor in ANCHORS:
        if getattr(item, anchor):
            source[anchor] = getattr(item, anchor)
    return source


def questionnaire_source(questionnaire: Questionnaire, items: Iterable[Item] | None = None):
    """Every participant-facing text of a questionnaire, items by key (what a
    translation's digest is of)."""
    if items is None:
        items = questionnaire.items.all()
    return {
        "title": questionnaire.title,
        "intro": questionnaire.intro,
        "items": {item.key: item_source(item) for item in items},
    }


def page_digest(questionnaire: Questionnaire, items: Sequence[Item]) -> str:
    """The digest of what the translation page shows of `questionnaire` now: its texts,
    and which item each field belongs to with the order of its options (the page names
    fields by the item's pk and the option's position, so a reordered, removed or
    re-valued option would give a label to the wrong option;
    translation_sources.page_digest)."""
    order = {
        str(item.pk): {"key": item.key, "options": [str(o.get("value", "")) for o in item.options]}
        for item in items
    }
    return translation_sources.page_digest(
        source=questionnaire_source(questionnaire, items), order=order
    )


def translation_shape_errors(items: Any, source_items: Mapping[str, Mapping]) -> list[str]:
    """What is wrong with a translation's `items` against the source's items (pure): the
    shape, and keys or option values the questionnaire does not have."""
    if not isinstance(items, dict):
        return ['an object of item key → {"text", "options", "anchor_low", "anchor_high"}']
    errors = []
    for key, pieces in items.items():
        source = source_items.get(key)
        if source is None:
            errors.append(f"no item {key!r} in the questionnaire")
            continue
        if not isinstance(pieces, dict) or set(pieces) - ITEM_PIECES:
            errors.append(f"item {key}: an object of text, options, anchor_low, anchor_high")
            continue
        for name in ("text", *ANCHORS):
            if not isinstance(pieces.get(name, ""), str):
                errors.append(f"item {key}: {name} is text")
            elif name in ANCHORS and len(pieces.get(name, "")) > 80:
                errors.append(f"item {key}: {name} has 80 characters at most")
        options = pieces.get("options", {})
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            errors.append(f"item {key}: options is an object of option value → label")
            continue
        unknown = sorted(set(options) - set(source.get("options", {})))
        if unknown:
            errors.append(f"item {key}: no option {', '.join(map(repr, unknown))}")
    return errors


def translation_gaps(translation: QuestionnaireTranslation, source: Mapping[str, Any]):
    """Each text the source has and the translation lacks, in words (pure)."""
    gaps = []
    if not translation.title.strip():
        gaps.append("the title")
    if source["intro"].strip() and not translation.intro.strip():
        gaps.append("the introduction")
    for key, item in source["items"].items():
        pieces = translation.items.get(key) or {}
        if not str(pieces.get("text", "")).strip():
            gaps.append(f"the question of item {key}")
        labels = pieces.get("options") or {}
        for value in item.get("options", {}):
            if not str(labels.get(value, "")).strip():
                gaps.append(f"the label of option {value} of item {key}")
        for anchor in ANCHORS:
            if anchor in item and not str(pieces.get(anchor, "")).strip():
                end = "low" if anchor == "anchor_low" else "high"
                gaps.append(f"the {end} anchor of item {key}")
    return gaps


# --- What a participant reads ---------------------------------------------------------------


@dataclass(frozen=True)
class ItemText:
    text: str
    # {option value: label}
    labels: Mapping[str, str] = field(default_factory=dict)
    anchor_low: str = ""
    anchor_high: str = ""


@dataclass(frozen=True)
class QuestionnaireTexts:
    # The language the title is in: the translation's, or the source's.
    language: str
    title: str
    intro: str
    items: Mapping[str, ItemText] = field(default_factory=dict)

    def item(self, item: Item) -> ItemText:
        return self.items.get(item.key) or ItemText(
            text=item.text,
            labels={str(o.get("value", "")): str(o.get("label", "")) for o in item.options},
            anchor_low=item.anchor_low,
            anchor_high=item.anchor_high,
        )


def questionnaire_texts(
    *, questionnaire: Questionnaire, items: Sequence[Item], language: str
) -> QuestionnaireTexts:
    """The questionnaire's texts in `language`: its translation, each piece it lacks the
    source's; the source's without one (the module docstring says why). One query."""
    languages = questionnaire.study.languages or []
    translation = None
    if languages and language != languages[0]:
        translation = QuestionnaireTranslation.objects.filter(
            questionnaire=questionnaire, language=language
        ).first()
    if translation is None:
        source_language = languages[0] if languages else language
        return QuestionnaireTexts(
            language=source_language, title=questionnaire.title, intro=questionnaire.intro
        )
    texts = {}
    for item in items:
        pieces = translation.items.get(item.key) or {}
        labels = pieces.get("options") or {}
        texts[item.key] = ItemText(
            text=pieces.get("text") or item.text,
            labels={
                str(o.get("value", "")): labels.get(str(o.get("value", "")))
                or str(o.get("label", ""))
                for o in item.options
            },
            anchor_low=pieces.get("anchor_low") or item.anchor_low,
            anchor_high=pieces.get("anchor_high") or item.anchor_high,
        )
    return QuestionnaireTexts(
        language=translation.language,
        title=translation.title or questionnaire.title,
        intro=translation.intro or questionnaire.intro,
        items=texts,
    )


# --- What each language lacks ---------------------------------------------------------------


class State:
    MISSING = "missing"
    INCOMPLETE = "incomplete"
    OUT_OF_DATE = "out_of_date"
    CURRENT = "current"


@dataclass(frozen=True)
class TranslationState:
    questionnaire: Questionnaire
    language: str
    translation: QuestionnaireTranslation | None
    gaps: list[str]
    is_current: bool

    @property
    def language_name(self) -> str:
        return str(dict(settings.LANGUAGES).get(self.language, self.language))

    @property
    def state(self) -> str:
        if self.translation is None:
            return State.MISSING
        if self.gaps:
            return State.INCOMPLETE
        return State.CURRENT if self.is_current else State.OUT_OF_DATE


def translation_states(
    *, study: Study, questionnaires: Sequence[Questionnaire]
) -> list[TranslationState]:
    """Per questionnaire (with its items prefetched, or one query each) and each language
    after the study's first: its translation, what it lacks, whether it is current. One
    query for the translations."""
    languages = (study.languages or [])[1:]
    if not languages or not questionnaires:
        return []
    found = {
        (t.questionnaire_id, t.language): t
        for t in QuestionnaireTranslation.objects.filter(
            questionnaire__in=[q.pk for q in questionnaires], language__in=languages
        )
    }
    states = []
    for questionnaire in questionnaires:
        source = questionnaire_source(questionnaire)
        source_digest = digest(source)
        for language in languages:
            translation = found.get((questionnaire.pk, language))
            states.append(
                TranslationState(
                    questionnaire=questionnaire,
                    language=language,
                    translation=translation,
                    gaps=translation_gaps(translation, source) if translation else [],
                    is_current=translation is not None
                    and translation.source_digest == source_digest,
                )
            )
    return states
