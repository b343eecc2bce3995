"""What a participant reads, in their language, and what a language still lacks.

A study is written in its first language (Study.languages[0]). For each other language it
offers, a StudyTranslation holds the study's texts (consent, instructions, questions,
option labels, care levels, arm labels) and a ScenarioTranslation each active scenario
version's title and sections. Values participants submit stay the source's (an option's
value, a level's pk), so answers mean the same in every language.

`translation_status` says what each language lacks (a gap keeps the study from going
live) and which translations are older than their source (shown to investigators).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from studyapp.studies.models import (
    Arm,
    DispositionLevel,
    Scenario,
    ScenarioTranslation,
    Study,
    StudyTranslation,
)
from studyapp.studies.translation_sources import digest, scenario_source


@dataclass(frozen=True)
class LevelText:
    """A care level as a participant reads it; `pk` is what the form submits."""

    pk: int
    value: int
    code: str
    label: str
    description: str


@dataclass(frozen=True)
class StudyTexts:
    """A study's participant-facing texts in one language (the source's where untranslated)."""

    language: str
    public_title: str
    consent_text: str
    instructions_text: str
    disposition_question: str
    conditions_question: str
    screening_question: str
    check_question: str
    screening_labels: Mapping[str, str] = field(default_factory=dict)
    check_labels: Mapping[str, str] = field(default_factory=dict)
    level_texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    arm_texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def screening_options(self, options: Sequence[dict]) -> list[tuple[str, str]]:
        """(value, label) of the study's screening options; never their eligibility."""
        pairs = [(str(o.get("value", "")), str(o.get("label", ""))) for o in options]
        return [(value, self.screening_labels.get(value) or label) for value, label in pairs]

    def check_options(self, options: Sequence[str]) -> list[tuple[str, str]]:
        return [(str(o), self.check_labels.get(str(o)) or str(o)) for o in options]

    def levels(self, levels: Iterable[DispositionLevel]) -> list[LevelText]:
        out = []
        for level in levels:
            text = self.level_texts.get(level.code, {})
            out.append(
                LevelText(
                    pk=level.pk,
                    value=level.value,
                    code=level.code,
                    label=text.get("label") or level.label,
                    description=text.get("description") or level.description,
                )
            )
        return out

    def arm_label(self, arm: Arm) -> str:
        return self.arm_texts.get(arm.key, {}).get("participant_label") or arm.participant_label

    def control_instructions(self, arm: Arm) -> str:
        text = self.arm_texts.get(arm.key, {}).get("control_instructions")
        return text or arm.control_instructions


@dataclass(frozen=True)
class ScenarioText:
    title: str
    sections: list[dict]


def _source_texts(study: Study, language: str) -> StudyTexts:
    return StudyTexts(
        language=language,
        public_title=study.public_title,
        consent_text=study.consent_text,
        instructions_text=study.instructions_text,
        disposition_question=study.disposition_question,
        conditions_question=study.conditions_question,
        screening_question=study.screening_question,
        check_question=study.check_question,
    )


def study_texts(*, study: Study, language: str) -> StudyTexts:
    """The study's texts in `language`: its translation, else the source (one query).

    A field the translation leaves empty falls back to the source's; a study cannot go
    live while a language lacks something (translation_status), so participants of a live
    study only see the source where the translation allows it (e.g. no screening).
    """
    if not study.languages or language == study.languages[0]:
        return _source_texts(study, language)
    translation = StudyTranslation.objects.filter(study=study, language=language).first()
    if translation is None:
        return _source_texts(study, language)
    return StudyTexts(
        language=language,
        public_title=translation.public_title or study.public_title,
        consent_text=translation.consent_text or study.consent_text,
        instructions_text=translation.instructions_text or study.instructions_text,
        disposition_question=translation.disposition_question or study.disposition_question,
        conditions_question=translation.conditions_question or study.conditions_question,
        screening_question=translation.screening_question or study.screening_question,
        check_question=translation.check_question or study.check_question,
        screening_labels=dict(translation.screening_labels),
        check_labels=dict(translation.check_labels),
        level_texts=dict(translation.levels),
        arm_texts=dict(translation.arms),
    )


def scenario_text(*, scenario: Scenario, language: str) -> ScenarioText:
    """The scenario version's title and sections in `language`, else the source's."""
    translation = None
    if scenario.study.languages and language != scenario.study.languages[0]:
        translation = ScenarioTranslation.objects.filter(
            scenario=scenario, language=language
        ).first()
    if translation is None:
        return ScenarioText(title=scenario.title, sections=list(scenario.sections))
    sections = list(translation.sections)
    if len(sections) == len(scenario.sections):
        # A draft's translation may leave a section empty (a study out of draft may not):
        # that section is read in the source, as study_texts does with an empty text.
        sections = [
            {
                "heading": mine.get("heading") or source.get("heading", ""),
                "text": mine.get("text") or source.get("text", ""),
            }
            for mine, source in zip(sections, scenario.sections, strict=True)
        ]
    return ScenarioText(title=translation.title or scenario.title, sections=sections)


# --- What each language lacks.


@dataclass(frozen=True)
class LanguageStatus:
    language: str
    # Missing pieces ("the study's texts", "scenario chest-pain v2", "scenario chest-pain
    # v2 (the text of section 3)", "the label of level ae"): while there is one, the
    # study cannot go live.
    gaps: list[str]
    # Translations whose source was edited after they were made.
    out_of_date: list[str]

    @property
    def is_complete(self) -> bool:
        return not self.gaps


def study_translation_gaps(study: Study, translation: StudyTranslation) -> list[str]:
    """What `translation` lacks of the study's texts, in words (the scenarios aside)."""
    gaps = []
    levels = list(study.disposition_scale.levels.all())
    for level in levels:
        if not translation.levels.get(level.code, {}).get("label"):
            gaps.append(f"the label of care level {level.code}")
    for arm in study.arms.all():
        texts = translation.arms.get(arm.key, {})
        if not texts.get("participant_label"):
            gaps.append(f"the label of arm {arm.key}")
        if not arm.is_llm and arm.control_instructions and not texts.get("control_instructions"):
            gaps.append(f"the instructions of control arm {arm.key}")
    if study.has_screening:
        if not translation.screening_question:
            gaps.append("the screening question")
        for option in study.screening_options:
            if not translation.screening_labels.get(str(option.get("value"))):
                gaps.append(f"the label of screening option {option.get('value')}")
    if study.has_check:
        if not translation.check_question:
            gaps.append("the check question")
        for option in study.check_options:
            if not translation.check_labels.get(option):
                gaps.append(f"the label of check option “{option}”")
    return gaps


def scenario_translation_gaps(scenario: Scenario, translation: ScenarioTranslation) -> list[str]:
    """What `translation` lacks of its scenario version's title and sections, in words."""
    gaps = []
    if not translation.title.strip():
        gaps.append("the title")
    mine, source = list(translation.sections), list(scenario.sections)
    if len(mine) != len(source):
        # Sections follow the source's by position: with another count, none is trusted.
        return [*gaps, f"the sections (the scenario has {len(source)}, this {len(mine)})"]
    for i, (texts, original) in enumerate(zip(mine, source, strict=True), start=1):
        if original.get("heading") and not str(texts.get("heading") or "").strip():
            gaps.append(f"the heading of section {i}")
        if not str(texts.get("text") or "").strip():
            gaps.append(f"the text of section {i}")
    return gaps


@dataclass(frozen=True)
class ScenarioTranslationState:
    """One active scenario version in one language: its translation (or None), what that
    lacks, and whether it was made from the source as it is now."""

    scenario: Scenario
    language: str
    translation: ScenarioTranslation | None
    gaps: list[str]
    is_current: bool

    @property
    def name(self) -> str:
        return f"scenario {self.scenario.key} v{self.scenario.version}"

    @property
    def language_name(self) -> str:
        return str(dict(settings.LANGUAGES).get(self.language, self.language))

    @property
    def state(self) -> str:
        """missing, incomplete, out_of_date or current (the first that applies)."""
        if self.translation is None:
            return "missing"
        if self.gaps:
            return "incomplete"
        return "current" if self.is_current else "out_of_date"

    @property
    def lacks(self) -> bool:
        return self.translation is None or bool(self.gaps)


def scenario_translation_states(
    *, study: Study, scenarios: Iterable[Scenario] | None = None
) -> list[ScenarioTranslationState]:
    """Each active scenario version (or each of `scenarios`) in each language after the
    first, by language then key (two queries)."""
    if scenarios is None:
        scenarios = study.scenarios.active().order_by("key")
    scenarios = list(scenarios)
    found = {
        (t.scenario_id, t.language): t
        for t in ScenarioTranslation.objects.filter(scenario__in=scenarios)
    }
    digests = {scenario.pk: digest(scenario_source(scenario)) for scenario in scenarios}
    states = []
    for language in study.languages[1:]:
        for scenario in scenarios:
            translation = found.get((scenario.pk, language))
            states.append(
                ScenarioTranslationState(
                    scenario=scenario,
                    language=language,
                    translation=translation,
                    gaps=scenario_translation_gaps(scenario, translation) if translation else [],
                    is_current=translation is not None
                    and translation.source_digest == digests[scenario.pk],
                )
            )
    return states


def translation_status(*, study: Study) -> list[LanguageStatus]:
    """For each language after the first: what is missing and what is out of date."""
    if not study.pk:
        return [LanguageStatus(language, ["everything"], []) for language in study.languages[1:]]
    study_translations = {t.language: t for t in study.translations.all()}
    scenario_states = scenario_translation_states(study=study)
    statuses = []
    for language in study.languages[1:]:
        gaps: list[str] = []
        out_of_date: list[str] = []
        translation = study_translations.get(language)
        if translation is None:
            gaps.append("the study's texts")
        else:
            gaps.extend(study_translation_gaps(study, translation))
            if not translation.is_current:
                out_of_date.append("the study's texts")
        for state in scenario_states:
            if state.language != language:
                continue
            if state.translation is None:
                gaps.append(state.name)
            elif state.gaps:
                gaps.append(f"{state.name} ({'; '.join(state.gaps)})")
            elif not state.is_current:
                out_of_date.append(state.name)
        statuses.append(LanguageStatus(language=language, gaps=gaps, out_of_date=out_of_date))
    return statuses
