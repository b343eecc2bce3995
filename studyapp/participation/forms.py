"""Participant-facing forms: parsing and messages only; the services decide and write."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.utils.translation import gettext_lazy as _

from studyapp.participation.conditions import parse_conditions
from studyapp.participation.instructions import CONFIDENCE_QUESTION
from studyapp.participation.services import CONDITIONS_MAX_CHARS, SOURCES_MAX_CHARS
from studyapp.studies.translations import LevelText


class SourcesForm(forms.Form):
    sources_text = forms.CharField(
        max_length=SOURCES_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={
            "required": _("Please describe the sources you used (write “none” if you used none)."),
            "max_length": _("Please keep this under %(limit_value)d characters."),
        },
    )


class AnswerForm(forms.Form):
    disposition = forms.TypedChoiceField(
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Please choose one of the options."),
            "invalid_choice": _("Please choose one of the options."),
        },
    )
    conditions_text = forms.CharField(
        max_length=CONDITIONS_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={
            "required": _("Please answer this question."),
            "max_length": _("Please keep this under %(limit_value)d characters."),
        },
    )
    # No initial value: a slider that starts at 50 anchors the answer and cannot tell a
    # participant who chose 50 from one who never touched it. The page shows an unset
    # slider beside this number box (participant.js keeps them together).
    confidence = forms.IntegerField(
        label=_(CONFIDENCE_QUESTION),  # marked for translation in instructions.py
        min_value=0,
        max_value=100,
        widget=forms.NumberInput(attrs={"step": 1}),
        error_messages={
            "required": _("Please set your confidence: move the slider or type 0 to 100."),
            "invalid": _("Please give your confidence as a whole number from 0 to 100."),
            "min_value": _("Confidence is between 0 and 100."),
            "max_value": _("Confidence is between 0 and 100."),
        },
    )

    def __init__(self, *args, levels: Sequence[LevelText], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.levels = list(levels)
        self.fields["disposition"].choices = [(level.pk, level.label) for level in self.levels]

    def clean_conditions_text(self) -> str:
        text = self.cleaned_data["conditions_text"]
        if not parse_conditions(text):
            raise forms.ValidationError(_("Please answer this question in words."))
        return text

    def selected_disposition(self) -> str:
        """The chosen level's pk as a string, to re-check the radio after an error."""
        return str(self["disposition"].value() or "")


class _ChoiceQuestionForm(forms.Form):
    answer = forms.ChoiceField(
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Please choose one of the options."),
            "invalid_choice": _("Please choose one of the options."),
        },
    )

    def selected(self) -> str:
        return str(self["answer"].value() or "")


class ScreeningForm(_ChoiceQuestionForm):
    """The study's screening question; options are (value, label) in the participant's
    language (studies.translations). Eligibility is never sent to the browser."""

    def __init__(self, *args, options: Sequence[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.options = list(options)
        self.fields["answer"].choices = self.options


class CheckForm(_ChoiceQuestionForm):
    """The attention/comprehension check; options are (the source's option, its label)."""

    def __init__(self, *args, options: Sequence[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.options = list(options)
        self.fields["answer"].choices = self.options
