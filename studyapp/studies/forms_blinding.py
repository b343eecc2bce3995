"""The form of the builder's blinding page (studies.views_blinding). The rules that
involve the study (never loosened once participants entered, no arm's term in the
replacement) are studies.builder_blinding's; the view puts each message beside its field."""

from __future__ import annotations

from django import forms

from studyapp.studies.models import Study

# What each action does, in the investigator's words (the page shows them by the radios).
ACTION_HELP = {
    Study.BlindingAction.REPLACE: (
        "Before a reply reaches the participant, each blinding term in it is replaced by "
        "the words below, while it streams and in the chat's history. The model's own "
        "words are stored and each occurrence is recorded, so the dashboard counts them "
        "and transcripts show what was replaced."
    ),
    Study.BlindingAction.FLAG: (
        "The participant reads the reply exactly as the model wrote it, model's name "
        "included; each occurrence is only recorded, for the dashboard and transcripts. "
        "Participants may then learn which model they talk to."
    ),
}


class BlindingForm(forms.Form):
    blinding_action = forms.ChoiceField(
        choices=Study.BlindingAction.choices,
        widget=forms.RadioSelect,
        label="When a reply says a blinding term",
    )
    blinding_replacement = forms.CharField(
        max_length=60,
        label="Words shown instead",
        help_text=(
            "Neutral words, as they read in a sentence: “I am Llama” becomes “I am the "
            "assistant”. Used only when terms are replaced."
        ),
        error_messages={"required": "Write the words shown instead (e.g. the assistant)."},
    )

    def __init__(self, *args, study: Study, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "blinding_action": study.blinding_action,
                "blinding_replacement": study.blinding_replacement,
            },
        )
        super().__init__(*args, **kwargs)

    def actions(self) -> list[dict]:
        """The radios with what each does (the template writes them out)."""
        return [
            {"radio": radio, "help": ACTION_HELP[radio.data["value"]]}
            for radio in self["blinding_action"]
        ]
