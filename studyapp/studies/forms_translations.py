"""The form of the builder's translation page (studies.views_translations): a study's
texts in one of its other languages, each source text shown above its field.

Fields are named by position (`screening_label_0`, `level_2_label`), so no value an
investigator typed (an option's code, a check option's text) ends up in a field name; the
translation is keyed by what it translates, as StudyTranslation says (a screening
option's value, a check option's source text, a level's code, an arm's key).
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils import timezone

from studyapp.studies.builder_translations import PROVENANCE_FIELDS
from studyapp.studies.models import (
    Arm,
    DispositionLevel,
    Study,
    StudyTranslation,
    TranslationMethod,
)

REQUIRED_LIVE = "Participants read this: a study out of draft needs it translated."


@dataclass(frozen=True)
class Row:
    """A field with the source text it translates (empty: nothing to show above it)."""

    field: forms.BoundField
    source: str


@dataclass(frozen=True)
class Section:
    legend: str
    id: str
    rows: list[Row]
    note: str = ""


class TranslationProvenanceForm(forms.Form):
    """What every translation page asks: who translated it and how (PROVENANCE_FIELDS),
    and the digest of the source the page was made from (`source`)."""

    method = forms.ChoiceField(choices=TranslationMethod.choices)
    translated_by = forms.CharField(
        max_length=200, help_text="Who translated it: a person, an agency or a service."
    )
    reviewed_by = forms.CharField(
        max_length=200, required=False, help_text="Who checked it against the source, if anyone."
    )
    translated_on = forms.DateField(
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="E.g. back-translation, what was adapted.",
    )
    # The digest of what this page was made from (the source, in the order the page's
    # fields follow it by position): a save is refused when the source changed in between.
    source = forms.CharField(required=False, widget=forms.HiddenInput)

    def provenance_section(self) -> Section:
        return Section(
            "Who translated it, and how",
            "translation-provenance",
            [Row(self[name], "") for name in PROVENANCE_FIELDS],
        )


class StudyTranslationForm(TranslationProvenanceForm):
    """Provenance, then the study's texts. `complete`: every text the source has is
    required (a study out of draft: its participants would read the gap in the source
    language)."""

    public_title = forms.CharField(max_length=200, label="Title shown to participants")
    consent_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), label="Consent")
    instructions_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), label="Instructions"
    )
    disposition_question = forms.CharField(max_length=300, label="Disposition question")
    conditions_question = forms.CharField(max_length=300, label="Conditions question")
    screening_question = forms.CharField(
        max_length=300, required=False, label="Screening question"
    )
    check_question = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Attention check question",
    )

    def __init__(
        self,
        data=None,
        *,
        study: Study,
        levels: list[DispositionLevel],
        arms: list[Arm],
        translation: StudyTranslation | None = None,
        complete: bool = False,
        made_from: str = "",
        **kwargs,
    ):
        self.study, self.levels, self.arms = study, levels, arms
        self.control_arms = [a for a in arms if not a.is_llm and a.control_instructions]
        if translation is not None:
            kwargs.setdefault("initial", self._initial(translation))
        super().__init__(data, **kwargs)
        self.fields["source"].initial = made_from
        if not study.screening_question:
            del self.fields["screening_question"]
        if not study.check_question:
            del self.fields["check_question"]
        for i, option in enumerate(study.screening_options):
            self.fields[f"screening_label_{i}"] = forms.CharField(
                required=False, max_length=200, label=f"Option {option.get('value', '')}"
            )
        for i, _option in enumerate(study.check_options):
            self.fields[f"check_label_{i}"] = forms.CharField(
                required=False, max_length=200, label=f"Option {i + 1}"
            )
        for i, level in enumerate(levels):
            self.fields[f"level_{i}_label"] = forms.CharField(
                required=False, max_length=100, label=f"Level {level.code}"
            )
            if level.description:
                self.fields[f"level_{i}_description"] = forms.CharField(
                    required=False,
                    widget=forms.Textarea(attrs={"rows": 2}),
                    label=f"Description of level {level.code}",
                )
        for i, arm in enumerate(arms):
            self.fields[f"arm_{i}_label"] = forms.CharField(
                required=False, max_length=100, label=f"Arm {arm.key}: shown as"
            )
            if arm in self.control_arms:
                self.fields[f"arm_{i}_instructions"] = forms.CharField(
                    required=False,
                    widget=forms.Textarea(attrs={"rows": 3}),
                    label=f"Arm {arm.key}: instructions",
                )
        if complete:
            for name in self._needed():
                self.fields[name].required = True
                self.fields[name].error_messages["required"] = REQUIRED_LIVE

    def _needed(self) -> list[str]:
        """The text fields whose emptiness is a gap (studies.translations)."""
        names = [f"level_{i}_label" for i in range(len(self.levels))]
        names += [f"arm_{i}_label" for i in range(len(self.arms))]
        names += [
            f"arm_{i}_instructions" for i, a in enumerate(self.arms) if a in self.control_arms
        ]
        if self.study.has_screening:
            names.append("screening_question")
            names += [f"screening_label_{i}" for i in range(len(self.study.screening_options))]
        if self.study.has_check:
            names.append("check_question")
            names += [f"check_label_{i}" for i in range(len(self.study.check_options))]
        return names

    def _initial(self, translation: StudyTranslation) -> dict:
        study = self.study
        initial = {name: getattr(translation, name) for name in PROVENANCE_FIELDS}
        for name in (
            "public_title",
            "consent_text",
            "instructions_text",
            "disposition_question",
            "conditions_question",
            "screening_question",
            "check_question",
        ):
            initial[name] = getattr(translation, name)
        for i, option in enumerate(study.screening_options):
            initial[f"screening_label_{i}"] = translation.screening_labels.get(
                str(option.get("value", "")), ""
            )
        for i, option in enumerate(study.check_options):
            initial[f"check_label_{i}"] = translation.check_labels.get(option, "")
        for i, level in enumerate(self.levels):
            texts = translation.levels.get(level.code) or {}
            initial[f"level_{i}_label"] = texts.get("label", "")
            initial[f"level_{i}_description"] = texts.get("description", "")
        for i, arm in enumerate(self.arms):
            texts = translation.arms.get(arm.key) or {}
            initial[f"arm_{i}_label"] = texts.get("participant_label", "")
            initial[f"arm_{i}_instructions"] = texts.get("control_instructions", "")
        return initial

    # --- What the page shows ------------------------------------------------------------

    def _row(self, name: str, source: str) -> list[Row]:
        return [Row(self[name], source)] if name in self.fields else []

    def sections(self) -> list[Section]:
        study = self.study
        sections = [
            self.provenance_section(),
            Section(
                "The study's texts",
                "translation-texts",
                [
                    *self._row("public_title", study.public_title),
                    *self._row("consent_text", study.consent_text),
                    *self._row("instructions_text", study.instructions_text),
                    *self._row("disposition_question", study.disposition_question),
                    *self._row("conditions_question", study.conditions_question),
                ],
            ),
        ]
        screening = [
            *self._row("screening_question", study.screening_question),
            *[
                Row(self[f"screening_label_{i}"], str(option.get("label", "")))
                for i, option in enumerate(study.screening_options)
            ],
        ]
        if screening:
            sections.append(
                Section(
                    "Screening",
                    "translation-screening",
                    screening,
                    "Participants choose the translated label; the data records the option's "
                    "code, the same in every language.",
                )
            )
        check = [
            *self._row("check_question", study.check_question),
            *[
                Row(self[f"check_label_{i}"], option)
                for i, option in enumerate(study.check_options)
            ],
        ]
        if check:
            sections.append(
                Section(
                    "Attention check",
                    "translation-check",
                    check,
                    "Whoever chooses the translation of the correct option passes.",
                )
            )
        levels = []
        for i, level in enumerate(self.levels):
            levels += self._row(f"level_{i}_label", level.label)
            levels += self._row(f"level_{i}_description", level.description)
        sections.append(Section("Care levels", "translation-levels", levels))
        arms = []
        for i, arm in enumerate(self.arms):
            arms += self._row(f"arm_{i}_label", arm.participant_label)
            arms += self._row(f"arm_{i}_instructions", arm.control_instructions)
        if arms:
            sections.append(
                Section(
                    "Arms, as participants see them",
                    "translation-arms",
                    arms,
                    "Participants see only these labels of the arms, never their keys.",
                )
            )
        return sections

    # --- What the service saves -----------------------------------------------------------

    def translation_data(self) -> dict:
        """The service's data (builder_translations.study_translation_save): labels keyed
        by what they translate, empty ones left out."""
        data = dict(self.cleaned_data)
        data.pop("source", None)
        study = self.study

        def text(name: str) -> str:
            return str(data.pop(name, "") or "").strip()

        out = {name: data[name] for name in PROVENANCE_FIELDS}
        for name in (
            "public_title",
            "consent_text",
            "instructions_text",
            "disposition_question",
            "conditions_question",
        ):
            out[name] = text(name)
        out["screening_question"] = text("screening_question")
        out["check_question"] = text("check_question")
        out["screening_labels"] = {
            str(option.get("value", "")): label
            for i, option in enumerate(study.screening_options)
            if (label := text(f"screening_label_{i}"))
        }
        out["check_labels"] = {
            option: label
            for i, option in enumerate(study.check_options)
            if (label := text(f"check_label_{i}"))
        }
        levels = {}
        for i, level in enumerate(self.levels):
            label, description = text(f"level_{i}_label"), text(f"level_{i}_description")
            if label or description:
                levels[level.code] = {"label": label, "description": description}
        out["levels"] = levels
        arms = {}
        for i, arm in enumerate(self.arms):
            label, instructions = text(f"arm_{i}_label"), text(f"arm_{i}_instructions")
            if label or instructions:
                arms[arm.key] = {"participant_label": label, "control_instructions": instructions}
        out["arms"] = arms
        return out
