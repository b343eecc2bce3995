"""The form of the builder's scenario translation page (studies.views_translations): one
scenario version's title and sections in another language, each source text above its
field, with the provenance every translation page asks for (forms_translations).

Sections are named by position (`section_2_text`), as the scenario's are kept: a list in
the order participants read them. The page carries the digest of that list
(builder_scenario_translations.page_digest), so a save from a page made before the
scenario changed is refused rather than filed under the wrong section.
"""

from __future__ import annotations

from django import forms

from studyapp.studies.builder_translations import PROVENANCE_FIELDS
from studyapp.studies.forms_translations import (
    REQUIRED_LIVE,
    Row,
    Section,
    TranslationProvenanceForm,
)
from studyapp.studies.models import Scenario, ScenarioTranslation


class ScenarioTranslationForm(TranslationProvenanceForm):
    """Provenance, then the scenario's title and each section's heading (where the source
    has one) and text. `complete`: every text is required (a study out of draft)."""

    title = forms.CharField(max_length=200, label="Title")

    def __init__(
        self,
        data=None,
        *,
        scenario: Scenario,
        translation: ScenarioTranslation | None = None,
        complete: bool = False,
        made_from: str = "",
        **kwargs,
    ):
        self.scenario = scenario
        if translation is not None:
            kwargs.setdefault("initial", self._initial(translation))
        super().__init__(data, **kwargs)
        self.fields["source"].initial = made_from
        for i, section in enumerate(scenario.sections):
            if section.get("heading"):
                self.fields[f"section_{i}_heading"] = forms.CharField(
                    required=complete, max_length=200, label=f"Section {i + 1}: heading"
                )
            self.fields[f"section_{i}_text"] = forms.CharField(
                required=complete,
                widget=forms.Textarea(attrs={"rows": 4}),
                label=f"Section {i + 1}: text",
            )
        if complete:
            for name, field in self.fields.items():
                if name.startswith("section_"):
                    field.error_messages["required"] = REQUIRED_LIVE

    def _initial(self, translation: ScenarioTranslation) -> dict:
        initial = {name: getattr(translation, name) for name in PROVENANCE_FIELDS}
        initial["title"] = translation.title
        # By position, as saved; a translation of another count of sections shows as
        # incomplete above the form, to be checked against each source text.
        for i, texts in enumerate(translation.sections[: len(self.scenario.sections)]):
            initial[f"section_{i}_heading"] = texts.get("heading", "")
            initial[f"section_{i}_text"] = texts.get("text", "")
        return initial

    def sections(self) -> list[Section]:
        rows = [Row(self["title"], self.scenario.title)]
        for i, section in enumerate(self.scenario.sections):
            if f"section_{i}_heading" in self.fields:
                rows.append(Row(self[f"section_{i}_heading"], section.get("heading", "")))
            rows.append(Row(self[f"section_{i}_text"], section.get("text", "")))
        return [
            self.provenance_section(),
            Section(
                "The scenario, as participants read it",
                "translation-scenario",
                rows,
                "The gold standard is not translated. Other names participants may use for "
                "a gold condition in this language belong in the scenario's synonyms.",
            ),
        ]

    def translation_data(self) -> dict:
        """The service's data (builder_scenario_translations.scenario_translation_save):
        one {heading, text} per section of the source, in its order."""
        data = self.cleaned_data
        out = {name: data[name] for name in PROVENANCE_FIELDS}
        out["title"] = data["title"].strip()
        out["sections"] = [
            {
                "heading": str(data.get(f"section_{i}_heading") or "").strip(),
                "text": str(data.get(f"section_{i}_text") or "").strip(),
            }
            for i in range(len(self.scenario.sections))
        ]
        return out
