"""The power calculator's inputs (a GET form; the quota button posts the same fields).

The form's clean() asks `analysis.power` itself, so every refusal the module makes (a
proportion outside (0, 1), no effect, power below alpha) reaches the page in its words,
and the quota written is always recomputed on the server, never taken from the page.
"""

from __future__ import annotations

from django import forms

from studyapp.analysis.power import (
    COMPARISONS,
    SIDEDNESS,
    SampleSize,
    power_inputs,
    sample_size_for,
)

EFFECTS = {
    "odds_ratio": "As an odds ratio (LLM arms vs control)",
    "p_llm": "As the proportion correct in the LLM arms",
}


class PowerForm(forms.Form):
    p_control = forms.FloatField(
        label="Proportion correct in the control arm",
        help_text="What you expect in the reference group, e.g. 0.5.",
    )
    effect = forms.ChoiceField(
        label="Smallest effect worth detecting",
        choices=EFFECTS.items(),
        widget=forms.RadioSelect,
    )
    odds_ratio = forms.FloatField(label="Odds ratio", required=False)
    p_llm = forms.FloatField(label="Proportion correct in the LLM arms", required=False)
    arms = forms.IntegerField(label="Arms (control and LLM arms)", min_value=2, max_value=50)
    arm_weights = forms.CharField(
        label="Arm weights, control first",
        required=False,
        help_text="The allocation weights, e.g. “2, 1, 1, 1”; empty: equal.",
    )
    comparison = forms.ChoiceField(label="Comparison", choices=COMPARISONS.items())
    alpha = forms.FloatField(label="Alpha (family-wise)")
    power = forms.FloatField(label="Power")
    sidedness = forms.ChoiceField(label="Test", choices=SIDEDNESS.items())
    answers_per_participant = forms.IntegerField(
        label="Answers per participant", min_value=1, max_value=100
    )
    icc = forms.FloatField(
        label="Intra-class correlation (ICC)",
        help_text="Of one participant's answers; 0: independent, 1: identical.",
    )

    # Set by clean() when the form is valid.
    result: SampleSize

    def clean_arm_weights(self) -> tuple[float, ...] | None:
        text = self.cleaned_data["arm_weights"].strip()
        if not text:
            return None
        try:
            return tuple(float(part) for part in text.replace(";", ",").split(","))
        except ValueError:
            raise forms.ValidationError(
                "Weights are numbers separated by commas, control first."
            ) from None

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        effect = data["effect"]
        if data.get(effect) is None:
            self.add_error(effect, "Give the effect here, or choose the other way of giving it.")
            return data
        try:
            self.result = sample_size_for(
                power_inputs(
                    p_control=data["p_control"],
                    p_llm=data["p_llm"] if effect == "p_llm" else None,
                    odds_ratio=data["odds_ratio"] if effect == "odds_ratio" else None,
                    arms=data["arms"],
                    arm_weights=data["arm_weights"],
                    comparison=data["comparison"],
                    alpha=data["alpha"],
                    power=data["power"],
                    sidedness=data["sidedness"],
                    answers_per_participant=data["answers_per_participant"],
                    icc=data["icc"],
                )
            )
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data
