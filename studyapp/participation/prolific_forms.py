"""Forms of the Prolific review page (participation.prolific_views)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms

from studyapp.participation.prolific_api import MIN_REJECTION_MESSAGE, REJECTION_CATEGORIES

# A guard against a slip of the keyboard (30 for 0.30), not a policy: Prolific pays what
# it is sent, in the study's currency.
MAX_BONUS = Decimal("50.00")


class ReviewForm(forms.Form):
    """Approve or reject the chosen submissions awaiting review."""

    submission_ids = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, label="Submissions"
    )
    action = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    rejection_category = forms.ChoiceField(
        choices=[("", "—"), *REJECTION_CATEGORIES.items()], required=False
    )
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=2000,
        help_text=(
            f"Sent to each rejected participant; Prolific requires at least "
            f"{MIN_REJECTION_MESSAGE} characters."
        ),
    )

    def __init__(self, *args, awaiting: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["submission_ids"].choices = [(i, i) for i in awaiting]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("action") == "reject":
            if not data.get("rejection_category"):
                self.add_error("rejection_category", "Choose why, as Prolific requires.")
            message = (data.get("message") or "").strip()
            if len(message) < MIN_REJECTION_MESSAGE:
                self.add_error(
                    "message",
                    f"Write the reason for the participants: at least {MIN_REJECTION_MESSAGE} "
                    f"characters ({len(message)} now).",
                )
            data["message"] = message
        return data


class BonusForm(forms.Form):
    """Bonuses as lines of `<submission id>,<amount>` (the study's currency)."""

    lines = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=20_000,
        help_text="One line per submission: submission id, amount (e.g. 0.50).",
    )
    confirm = forms.BooleanField(
        label="Pay these bonuses now (Prolific pays each call: it cannot be undone)."
    )

    def clean_lines(self) -> list[tuple[str, Decimal]]:
        rows: list[tuple[str, Decimal]] = []
        for number, line in enumerate(self.cleaned_data["lines"].splitlines(), start=1):
            if not line.strip():
                continue
            who, sep, amount = (part.strip() for part in line.partition(","))
            try:
                value = Decimal(amount)
            except InvalidOperation:
                value = None
            if not sep or not who or value is None or not value.is_finite():
                raise forms.ValidationError(f"Line {number}: write a submission id, an amount.")
            if value <= 0 or value > MAX_BONUS or value != value.quantize(Decimal("0.01")):
                raise forms.ValidationError(
                    f"Line {number}: an amount over 0 and at most {MAX_BONUS}, in cents at most."
                )
            rows.append((who, value))
        if not rows:
            raise forms.ValidationError("Give at least one bonus.")
        if len({who for who, _ in rows}) != len(rows):
            raise forms.ValidationError("Each submission once per payment.")
        return rows
