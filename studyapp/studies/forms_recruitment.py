"""Forms of the builder's recruitment pages (studies.views_recruitment): the allocation
design and quotas, the screening question and attention check, Prolific.

Lists are typed as lists: block sizes as numbers separated by commas, stratum values one
per line, the screening and check options as rows (add and remove buttons post the form
back, as the scenario's sections do). The rules that involve the study (the arms'
weights, fixed fields, colliding codes) are studies.builder_recruitment's, and the view
puts each of their messages beside its field.
"""

from __future__ import annotations

import re

from django import forms
from django.utils.text import slugify

from studyapp.studies.builder_recruitment import CODE_LABELS
from studyapp.studies.forms_builder import LINES_HELP, lines_parse
from studyapp.studies.models import Study

FIXED_HELP = "Fixed: the study is {reason}."


def _model_help(name: str) -> str:
    return str(Study._meta.get_field(name).help_text)


class _Sectioned:
    """A form whose fields the page shows in fieldsets: SECTIONS is (legend, id, names)."""

    SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def sections(self):
        return [
            {"legend": legend, "id": section_id, "fields": [self[name] for name in names]}
            for legend, section_id, names in self.SECTIONS
        ]


def _lock(form: forms.Form, names, reason: str) -> None:
    for name in names:
        form.fields[name].disabled = True
        form.fields[name].help_text = FIXED_HELP.format(reason=reason)


# --- Allocation and quotas --------------------------------------------------------------


class AllocationForm(_Sectioned, forms.Form):
    SECTIONS = (
        (
            "Allocation design",
            "allocation-design",
            (
                "scenarios_per_participant",
                "allocation_method",
                "allocation_block_sizes",
                "stratum_source",
                "stratum_parameter",
                "stratum_values",
            ),
        ),
        (
            "Quotas and attrition",
            "quotas",
            (
                "quota_per_arm",
                "quota_per_cell",
                "time_limit_minutes",
                "timed_out_count_toward_quota",
                "technical_exit_after",
            ),
        ),
    )
    FIXED = SECTIONS[0][2]

    scenarios_per_participant = forms.IntegerField(
        min_value=1, max_value=50, help_text="How many scenarios each participant answers."
    )
    allocation_method = forms.ChoiceField(
        choices=Study.AllocationMethod.choices,
        widget=forms.RadioSelect,
        help_text=(
            "Permuted blocks keep the arms balanced as participants arrive; stratified, "
            "within each stratum too."
        ),
    )
    allocation_block_sizes = forms.CharField(
        required=False,
        label="Block sizes",
        help_text=(
            "Whole numbers separated by commas, e.g. 4, 8: one is drawn at random for each "
            "block. Each a multiple of the arms' weight total. Empty: that total and twice it."
        ),
    )
    stratum_source = forms.ChoiceField(
        choices=Study.StratumSource.choices,
        widget=forms.RadioSelect,
        label="Stratify by",
        help_text="Stratified permuted blocks only.",
    )
    stratum_parameter = forms.CharField(
        required=False,
        max_length=50,
        label="Entry-link parameter",
        help_text=_model_help("stratum_parameter"),
    )
    stratum_values = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Accepted stratum values",
        help_text=LINES_HELP + " " + _model_help("stratum_values"),
    )
    quota_per_arm = forms.IntegerField(
        required=False,
        min_value=1,
        label="Responses per arm",
        help_text=_model_help("quota_per_arm"),
    )
    quota_per_cell = forms.IntegerField(
        required=False,
        min_value=1,
        label="Responses per arm and scenario",
        help_text=_model_help("quota_per_cell"),
    )
    time_limit_minutes = forms.IntegerField(
        min_value=0, label="Time limit (minutes)", help_text=_model_help("time_limit_minutes")
    )
    timed_out_count_toward_quota = forms.BooleanField(
        required=False,
        label="Responses of participants who timed out or left count toward the quotas",
        help_text=_model_help("timed_out_count_toward_quota"),
    )
    technical_exit_after = forms.IntegerField(
        min_value=0,
        max_value=100,
        label="Offer a technical exit after (failed replies)",
        help_text=_model_help("technical_exit_after"),
    )

    def __init__(self, *args, study: Study, fixed_reason: str = "", **kwargs):
        initial = {name: getattr(study, name) for name in self.base_fields}
        initial["allocation_block_sizes"] = ", ".join(map(str, study.allocation_block_sizes))
        initial["stratum_values"] = "\n".join(study.stratum_values)
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        if fixed_reason:
            _lock(self, self.FIXED, fixed_reason)

    def clean_allocation_block_sizes(self) -> list[int]:
        text = self.cleaned_data["allocation_block_sizes"]
        sizes = []
        for token in re.split(r"[\s,;]+", text.strip()):
            if not token:
                continue
            if not token.isdigit() or int(token) < 1:
                raise forms.ValidationError(
                    f"“{token}” is not a whole number of participants (e.g. 4, 8)."
                )
            if int(token) > 1000:
                raise forms.ValidationError(f"{token} is too large a block (1000 at most).")
            if int(token) not in sizes:
                sizes.append(int(token))
        return sizes

    def clean_stratum_values(self) -> list[str]:
        return lines_parse(self.cleaned_data["stratum_values"])

    def clean_stratum_parameter(self) -> str:
        return self.cleaned_data["stratum_parameter"].strip()


# --- Screening and attention check ------------------------------------------------------


def rows_apply(rows: list[dict], action: str, prefix: str, blank: dict) -> list[dict]:
    """A row button ("<prefix>-add", "<prefix>-remove-2") applied to `rows`; any other
    action leaves them as they are."""
    rows = list(rows)
    if action == f"{prefix}-add":
        return [*rows, dict(blank)]
    head, _, index = action.rpartition("-")
    if head == f"{prefix}-remove" and index.isdigit() and int(index) < len(rows):
        del rows[int(index)]
    return rows


def screening_rows_from_post(data) -> list[dict]:
    """The screening options as posted: parallel lists of codes and labels; a ticked
    `screening_eligible` box posts its row's index."""
    eligible = set(data.getlist("screening_eligible"))
    return [
        {"value": value.strip(), "label": label.strip(), "eligible": str(i) in eligible}
        for i, (value, label) in enumerate(
            zip(data.getlist("screening_value"), data.getlist("screening_label"), strict=False)
        )
    ]


def check_rows_from_post(data) -> list[dict]:
    """The check's options as posted; the `check_correct` radio posts its row's index."""
    correct = data.get("check_correct", "")
    return [
        {"text": text.strip(), "correct": str(i) == correct}
        for i, text in enumerate(data.getlist("check_option"))
    ]


def screening_rows_of(study: Study) -> list[dict]:
    return [dict(o) for o in study.screening_options]


def check_rows_of(study: Study) -> list[dict]:
    return [{"text": t, "correct": t == study.check_answer} for t in study.check_options]


SCREENING_BLANK = {"value": "", "label": "", "eligible": True}
CHECK_BLANK = {"text": "", "correct": False}
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ScreeningForm(forms.Form):
    """The questions and the check's tries are fields; the options are rows (`rows`),
    each row's message in `row_errors[(list, index)]`. `screening_options`,
    `check_options` and `check_answer` are the rows' results, with their list-wide
    messages (the template shows them above the rows)."""

    screening_question = forms.CharField(
        required=False,
        max_length=300,
        help_text=(
            "Asked after consent, before allocation. Empty: no screening. An option that "
            "is not eligible screens the participant out."
        ),
    )
    screening_options = forms.Field(required=False, widget=forms.HiddenInput)
    check_question = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Attention check question",
        help_text=("Asked after the instructions, before the first scenario. Empty: no check."),
    )
    check_options = forms.Field(required=False, widget=forms.HiddenInput)
    check_answer = forms.Field(required=False, widget=forms.HiddenInput)
    check_attempts = forms.IntegerField(
        min_value=1,
        max_value=10,
        label="Tries",
        help_text="Wrong answers allowed before the session ends (failed check).",
    )

    FIXED = ("check_attempts",)

    def __init__(
        self,
        data=None,
        *,
        study: Study,
        fixed_reason: str = "",
        screening_rows: list[dict] | None = None,
        check_rows: list[dict] | None = None,
        **kwargs,
    ):
        kwargs.setdefault(
            "initial",
            {name: getattr(study, name) for name in ("screening_question", "check_question")}
            | {"check_attempts": study.check_attempts},
        )
        super().__init__(data, **kwargs)
        self.study, self.fixed = study, bool(fixed_reason)
        if fixed_reason:
            # The rows come from the study, whatever is posted.
            _lock(self, self.FIXED, fixed_reason)
            screening_rows, check_rows = screening_rows_of(study), check_rows_of(study)
        elif data is not None and screening_rows is None:
            screening_rows, check_rows = screening_rows_from_post(data), check_rows_from_post(data)
        self.screening_rows = (
            screening_rows if screening_rows is not None else screening_rows_of(study)
        )
        self.check_rows = check_rows if check_rows is not None else check_rows_of(study)
        self.row_errors: dict[tuple[str, int], str] = {}

    def clean_screening_options(self) -> list[dict]:
        options, seen = [], set()
        for i, row in enumerate(self.screening_rows):
            if not row["value"] and not row["label"]:
                continue  # an empty row added and left
            if not row["label"]:
                self.row_errors[("screening", i)] = "Write the option's text."
                continue
            value = row["value"] or slugify(row["label"])[:64]
            if not CODE_RE.fullmatch(value):
                self.row_errors[("screening", i)] = (
                    "The code: letters, digits, - and _ only (it is what the data records)."
                )
                continue
            if value in seen:
                self.row_errors[("screening", i)] = "Another option has this code."
                continue
            seen.add(value)
            options.append({"value": value, "label": row["label"], "eligible": row["eligible"]})
        if self.row_errors:
            raise forms.ValidationError("Correct the options marked below.")
        return options

    def clean_check_options(self) -> list[str]:
        options, seen = [], set()
        for i, row in enumerate(self.check_rows):
            if not row["text"]:
                if row["correct"]:
                    self.row_errors[("check", i)] = "The correct answer needs its text."
                continue
            if row["text"].casefold() in seen:
                self.row_errors[("check", i)] = "Another option reads the same."
                continue
            if len(row["text"]) > 200:
                self.row_errors[("check", i)] = "200 characters at most."
                continue
            seen.add(row["text"].casefold())
            options.append(row["text"])
        if any(kind == "check" for kind, _ in self.row_errors):
            raise forms.ValidationError("Correct the options marked below.")
        return options

    def clean_check_answer(self) -> str:
        chosen = [row["text"] for row in self.check_rows if row["correct"] and row["text"]]
        return chosen[0] if chosen else ""

    def screening_rows_for_page(self) -> list[dict]:
        return [
            {**row, "error": self.row_errors.get(("screening", i), "")}
            for i, row in enumerate(self.screening_rows)
        ]

    def check_rows_for_page(self) -> list[dict]:
        return [
            {**row, "error": self.row_errors.get(("check", i), "")}
            for i, row in enumerate(self.check_rows)
        ]


# --- Prolific ---------------------------------------------------------------------------


class ProlificSettingsForm(_Sectioned, forms.Form):
    SECTIONS = (
        ("The study on Prolific", "prolific-study", ("prolific_study_id", "completion_url")),
        (
            "Completion codes, one per way out of the study",
            "prolific-codes",
            tuple(CODE_LABELS),
        ),
    )

    prolific_study_id = forms.CharField(
        required=False,
        max_length=64,
        label="Prolific STUDY_ID",
        help_text=_model_help("prolific_study_id"),
    )
    completion_url = forms.URLField(
        required=False,
        max_length=200,
        assume_scheme="https",
        label="Completion URL",
        help_text=(
            "Where participants go back to when they leave, with their outcome's code "
            "(cc=…) added; e.g. https://app.prolific.com/submissions/complete."
        ),
    )

    completion_code = forms.CharField(
        required=False, max_length=50, label=CODE_LABELS["completion_code"]
    )
    code_screened_out = forms.CharField(
        required=False, max_length=50, label=CODE_LABELS["code_screened_out"]
    )
    code_timed_out = forms.CharField(
        required=False,
        max_length=50,
        label=CODE_LABELS["code_timed_out"],
        help_text="Needed when the study has a time limit.",
    )
    code_failed_check = forms.CharField(
        required=False,
        max_length=50,
        label=CODE_LABELS["code_failed_check"],
        help_text="Needed when the study has an attention check.",
    )
    code_study_full = forms.CharField(
        required=False, max_length=50, label=CODE_LABELS["code_study_full"]
    )
    code_technical_problem = forms.CharField(
        required=False,
        max_length=50,
        label=CODE_LABELS["code_technical_problem"],
        help_text=_model_help("code_technical_problem"),
    )

    def __init__(self, *args, study: Study, **kwargs):
        kwargs.setdefault("initial", {name: getattr(study, name) for name in self.base_fields})
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        for name in CODE_LABELS:
            if name in data:
                data[name] = data[name].strip()
        return data
