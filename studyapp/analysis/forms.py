"""The analysis pages' forms: the dashboard's filters (GET), the recorded reasons (raw
identifiers, an interim look) and the analysis plan's editor."""

from __future__ import annotations

import json
from collections.abc import Sequence

from django import forms

from studyapp.analysis.models import REASON_MIN_CHARS
from studyapp.analysis.selectors import AnswerFilters
from studyapp.participation.language import language_choices


class DashboardFilterForm(forms.Form):
    completed_only = forms.BooleanField(required=False, label="Completed participants only")
    attention_passed = forms.BooleanField(required=False, label="Passed the attention check")
    date_from = forms.DateField(
        required=False,
        label="Enrolled from",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        required=False,
        label="to",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    # The study's languages (Participant.language), set per study in __init__.
    language = forms.ChoiceField(required=False, label="Language", choices=())
    blinded = forms.BooleanField(required=False, label="Blinded: arms as A, B, C")
    # The pilot's participants are left out of the main analysis; "include" puts them in.
    pilot = forms.ChoiceField(
        required=False,
        label="Include the pilot's participants",
        choices=[("", "Main phase only"), ("include", "Include the pilot")],
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(
        self, data=None, *, languages: Sequence[str], always_blinded: bool = False, **kwargs
    ) -> None:
        super().__init__(data, **kwargs)
        # A blinded analyst (studies.roles) gets the blinded form whatever they ask for.
        self.always_blinded = always_blinded
        if always_blinded:
            self.fields["blinded"].disabled = True
            self.fields["blinded"].initial = True
        self.fields["language"].choices = [
            ("", "All languages"),
            *language_choices(list(languages)),
        ]

    @property
    def shows_language(self) -> bool:
        """Only a study run in several languages offers the choice."""
        return len(self.fields["language"].choices) > 2

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def _value(self, name: str):
        # An invalid field is ignored (its error is shown) rather than failing the page.
        if not self.is_bound:
            return None
        self.is_valid()
        return self.cleaned_data.get(name)

    def filters(self) -> AnswerFilters:
        return AnswerFilters(
            completed_only=bool(self._value("completed_only")),
            attention_passed=bool(self._value("attention_passed")),
            date_from=self._value("date_from"),
            date_to=self._value("date_to"),
            language=self._value("language") or "",
            include_pilot=self._value("pilot") == "include",
        )

    @property
    def is_blinded(self) -> bool:
        return self.always_blinded or bool(self._value("blinded"))

    @property
    def page_number(self) -> int:
        return self._value("page") or 1


class RawIdentifierReleaseForm(forms.Form):
    reason = forms.CharField(
        label="Why do you need raw Prolific ids?",
        help_text="Recorded with your name and the time, e.g. “paying the bonuses of batch 2”.",
        min_length=REASON_MIN_CHARS,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class InferenceRevealForm(forms.Form):
    reason = forms.CharField(
        label="Why do you need the interim results now?",
        help_text="Recorded with your name, the time and the plan's digest, e.g. “the "
        "monitoring committee's planned look at 50% recruitment”.",
        min_length=REASON_MIN_CHARS,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AnalysisPlanForm(forms.Form):
    """The plan as JSON (studies.analysis_plan says what it may hold) and, once the plan
    is locked, the reason for the new version."""

    content = forms.CharField(
        label="The plan (JSON)",
        widget=forms.Textarea(attrs={"rows": 30, "spellcheck": "false", "class": "code"}),
    )
    reason = forms.CharField(
        label="Why the plan changes",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, locked: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.locked = locked
        if locked:
            self.fields["reason"].required = True
            self.fields["reason"].help_text = (
                "The plan was locked at the first allocation: this change becomes a new "
                "version, recorded with your name, the time and this reason; what it adds "
                "is labelled exploratory."
            )

    def clean_content(self):
        text = self.cleaned_data["content"]
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
            ) from error


class ScoreCorrectionForm(forms.Form):
    """A person's correction of an answer's "names a gold condition" score (the transcript
    page; analysis.corrections)."""

    value = forms.TypedChoiceField(
        label="Names a gold condition",
        choices=[("yes", "yes"), ("no", "no")],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label="Why the automatic score is wrong",
        min_length=REASON_MIN_CHARS,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={
            "required": f"Say why the score is wrong ({REASON_MIN_CHARS} characters or more).",
            "min_length": f"Say why the score is wrong ({REASON_MIN_CHARS} characters or more).",
        },
    )
