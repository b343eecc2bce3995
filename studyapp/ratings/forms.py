"""Forms of the rating pages. Label forms are built from the item's scenario: its gold
terms (answers) or its rubric (transcripts)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from studyapp.ratings import selectors
from studyapp.ratings.decisions import Decision, DecisionError, parse_turns
from studyapp.ratings.models import RatingItem, StudyRater
from studyapp.ratings.selectors import ItemContent
from studyapp.studies.models import Study

MET, NOT_MET = "met", "not_met"
TAKE_OWN = "own"


class RaterAddForm(forms.Form):
    user = forms.CharField(label="Username or email", max_length=254)
    can_rate = forms.BooleanField(label="Rates items", required=False, initial=True)
    can_adjudicate = forms.BooleanField(label="May adjudicate", required=False)

    def clean_user(self):
        value = self.cleaned_data["user"].strip()
        users = get_user_model().objects.filter(
            Q(username__iexact=value) | Q(email__iexact=value), is_active=True
        )
        if users.count() != 1:
            raise forms.ValidationError(
                "No single active account has that username or email (an administrator "
                "creates accounts)."
            )
        return users.get()


class RaterUpdateForm(forms.Form):
    can_rate = forms.BooleanField(required=False)
    can_adjudicate = forms.BooleanField(required=False)
    is_active = forms.BooleanField(required=False)


class RoundForm(forms.Form):
    name = forms.CharField(max_length=100, initial="Round 1")
    answers = forms.BooleanField(
        label="Answers (which gold conditions and red flags they name)",
        required=False,
        initial=True,
    )
    transcripts = forms.BooleanField(
        label="Whole chats (the scenario's rubric)", required=False, initial=False
    )
    humans = forms.BooleanField(
        label="Participants' answers and chats", required=False, initial=True
    )
    evaluation_runs = forms.ModelMultipleChoiceField(
        label="Model-alone and simulated runs",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    raters = forms.ModelMultipleChoiceField(
        queryset=None, widget=forms.CheckboxSelectMultiple, help_text="Who rates this round."
    )
    double_percent = forms.IntegerField(
        label="Double-rated share (%)", min_value=0, max_value=100, initial=20
    )
    raters_per_double = forms.IntegerField(
        label="Raters per double-rated item", min_value=2, max_value=10, initial=2
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=2**62,
        help_text="Empty: a random seed, recorded with the round.",
    )

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        runs = selectors.rateable_runs(study=study)
        self.fields["evaluation_runs"].queryset = runs
        raters = StudyRater.objects.filter(study=study, is_active=True, can_rate=True)
        self.fields["raters"].queryset = raters.order_by("code")
        self.fields["raters"].label_from_instance = lambda r: f"{r.code} ({r.user.get_username()})"
        self.fields["raters"].initial = list(raters.values_list("pk", flat=True))
        if not runs.exists():
            del self.fields["evaluation_runs"]

    def clean(self):
        data = super().clean()
        if not (data.get("answers") or data.get("transcripts")):
            raise forms.ValidationError("Choose answers, chats or both.")
        if not (data.get("humans") or data.get("evaluation_runs")):
            raise forms.ValidationError("Choose participants, evaluation runs or both.")
        return data


class _DecisionForm(forms.Form):
    """Fields for one item's decision; `decision()` checks it against the scenario."""

    def __init__(self, *args, item: RatingItem, content: ItemContent, **kwargs):
        super().__init__(*args, **kwargs)
        self.item, self.content = item, content
        scenario = content.scenario
        if item.kind == RatingItem.Kind.ANSWER:
            self.fields["conditions_named"] = forms.MultipleChoiceField(
                label="Gold conditions the answer names",
                choices=[(t, t) for t in dict.fromkeys(scenario.gold_conditions)],
                widget=forms.CheckboxSelectMultiple,
                required=False,
            )
            self.fields["red_flags_named"] = forms.MultipleChoiceField(
                label="Red flags the answer names",
                choices=[(t, t) for t in dict.fromkeys(scenario.red_flags)],
                widget=forms.CheckboxSelectMultiple,
                required=False,
            )
            self.fields["other_conditions"] = forms.CharField(
                label="Other relevant conditions it names (not in the lists)",
                widget=forms.Textarea(attrs={"rows": 2}),
                required=False,
                max_length=2000,
            )
        else:
            for entry in scenario.rubric:
                self.fields[f"rubric_{entry['key']}"] = forms.ChoiceField(
                    label=f"{entry['text']} ({entry['points']:+d})",
                    choices=[(MET, "Met"), (NOT_MET, "Not met")],
                    widget=forms.RadioSelect,
                )
                if entry["applies_to"] == "model":
                    self.fields[f"turns_{entry['key']}"] = forms.CharField(
                        label="Which of the assistant's turns (optional, e.g. 1, 3)",
                        required=False,
                        max_length=100,
                    )

    def rubric_fields(self):
        """(verdict field, turns field or None) per rubric item, for the template."""
        return [
            (
                self[f"rubric_{e['key']}"],
                self[f"turns_{e['key']}"] if f"turns_{e['key']}" in self.fields else None,
            )
            for e in self.content.scenario.rubric
        ]

    def decision(self) -> Decision | None:
        """The decision, or None with the form's errors set."""
        data = self.cleaned_data
        try:
            if self.item.kind == RatingItem.Kind.ANSWER:
                return selectors.decision_for_item(
                    item=self.item,
                    conditions_named=data.get("conditions_named", []),
                    red_flags_named=data.get("red_flags_named", []),
                    other_conditions=data.get("other_conditions", ""),
                )
            keys = [e["key"] for e in self.content.scenario.rubric]
            return selectors.decision_for_item(
                item=self.item,
                verdicts={k: data[f"rubric_{k}"] == MET for k in keys},
                turns={k: parse_turns(data.get(f"turns_{k}", "")) for k in keys},
                model_turns=self.content.model_turns,
            )
        except DecisionError as exc:
            self.add_error(None, str(exc))
            return None


def initial_from(decision: Decision | None, kind: str) -> dict:
    """A form's initial values showing `decision`."""
    if decision is None:
        return {}
    if kind == RatingItem.Kind.ANSWER:
        return {
            "conditions_named": list(decision.conditions_named),
            "red_flags_named": list(decision.red_flags_named),
            "other_conditions": decision.other_conditions,
        }
    initial: dict = {}
    for key, (met, turns) in decision.rubric.items():
        initial[f"rubric_{key}"] = MET if met else NOT_MET
        initial[f"turns_{key}"] = ", ".join(str(t) for t in turns)
    return initial


class LabelForm(_DecisionForm):
    reason = forms.CharField(
        label="Notes or reason (optional; say why when you revise a label)",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
    )


class AdjudicationForm(_DecisionForm):
    take = forms.ChoiceField(label="Final label", widget=forms.RadioSelect)
    reason = forms.CharField(
        label="Reason (required: kept with the final label)",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )

    def __init__(self, *args, labels: list[tuple[str, object]], **kwargs):
        super().__init__(*args, **kwargs)
        # Fields in page order: the choice first, the editable label, then the reason.
        self.order_fields(["take"])
        self.fields["take"].choices = [
            (str(label.pk), f"{code}'s label, as it is") for code, label in labels
        ] + [(TAKE_OWN, "As marked below")]
        self.fields["take"].initial = TAKE_OWN
        if self.item.kind == RatingItem.Kind.TRANSCRIPT:
            # The radios are only needed when the adjudicator marks their own label.
            for name, field in self.fields.items():
                if name.startswith("rubric_"):
                    field.required = False

    def chosen_label_id(self) -> int | None:
        take = self.cleaned_data.get("take")
        return None if take in (None, TAKE_OWN) else int(take)

    def decision(self) -> Decision | None:
        if self.chosen_label_id() is not None:
            return Decision()  # replaced by the chosen label in the service
        if self.item.kind == RatingItem.Kind.TRANSCRIPT:
            missing = [
                e["key"]
                for e in self.content.scenario.rubric
                if not self.cleaned_data.get(f"rubric_{e['key']}")
            ]
            if missing:
                self.add_error(None, f"Mark every rubric item (missing: {', '.join(missing)}).")
                return None
        return super().decision()
