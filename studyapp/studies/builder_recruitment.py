"""Writes of the study builder's recruitment pages (studies.views_recruitment): the
allocation design and quotas, the screening question and attention check, and Prolific's
study id, completion URL and codes. These were the admin's JSON boxes.

Each function changes one page's fields of a Study under its row lock, after the model's
full_clean() and the checks below, so a refused change writes nothing. Study is on the
audit trail (audit.models registers it with django-simple-history, whose middleware names
the request's user as the author), as the settings page's writes are.

What decides who is allocated where, and who may take part, is fixed once the design is
(`design_fixed`): the allocation method, block sizes, strata and scenarios per
participant, the screening options and the attention check's options, answer and tries.
A change is then refused with BuilderError, as the admin makes those fields read-only.
The allocation seed is never here: investigators do not see it (concealment; the admin
shows it to superusers only).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from studyapp.studies.builder import BuilderError
from studyapp.studies.models import Study

ALLOCATION_FIXED = (
    "scenarios_per_participant",
    "allocation_method",
    "allocation_block_sizes",
    "stratum_source",
    "stratum_parameter",
    "stratum_values",
)
QUOTA_FIELDS = (
    "quota_per_arm",
    "quota_per_cell",
    "time_limit_minutes",
    "timed_out_count_toward_quota",
    "technical_exit_after",
)
ALLOCATION_FIELDS = (*ALLOCATION_FIXED, *QUOTA_FIELDS)

SCREENING_FIXED = ("screening_options", "check_options", "check_answer", "check_attempts")
# The questions' wording may still be corrected, but not removed (that would drop the step).
SCREENING_FIELDS = ("screening_question", "check_question", *SCREENING_FIXED)

# Every outcome's code, in the order the page shows them; the first is "completed".
CODE_FIELDS = (
    "completion_code",
    "code_screened_out",
    "code_timed_out",
    "code_failed_check",
    "code_study_full",
    "code_technical_problem",
)
PROLIFIC_FIELDS = ("prolific_study_id", "completion_url", *CODE_FIELDS)

CODE_LABELS = {
    "completion_code": "Completed",
    "code_screened_out": "Screened out or declined consent",
    "code_timed_out": "Timed out",
    "code_failed_check": "Failed the attention check",
    "code_study_full": "Study full",
    "code_technical_problem": "Technical problem",
}

# The entry link's recruiter parameters and the language parameter: a stratum parameter
# of the same name would read them (participation.prolific.PARAMS, participation.language).
RESERVED_PARAMETERS = frozenset({"PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "lang"})
# What an entry link's parameter value may hold (participation.prolific._ID_RE): a
# stratum value outside it can never arrive, and a Prolific id outside it is refused.
LINK_VALUE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PARAMETER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}$")

FIXED_MESSAGE = "The study is {state}: {what} {verb} fixed. Copy the study to try another design."


def design_fixed(study: Study) -> bool:
    """Whether who-goes-where and who-may-take-part are fixed: the study left the draft
    state, or a real participant entered (an investigator's preview does not count), or
    someone was allocated."""
    return (
        study.status != Study.Status.DRAFT
        or study.participants.humans().exists()
        or study.allocations.exists()
    )


def fixed_reason(study: Study) -> str:
    """Why the design is fixed, in the investigator's words (for the pages' notice)."""
    if study.status != Study.Status.DRAFT:
        return study.get_status_display().lower()
    return "a draft with participants"


def weight_total(study: Study) -> int:
    return sum(study.arms.values_list("weight", flat=True))


def _refuse_fixed(study: Study, values: dict[str, Any], fixed: tuple[str, ...], what: str):
    changed = [name for name in fixed if name in values and values[name] != getattr(study, name)]
    if changed and design_fixed(study):
        raise BuilderError(
            FIXED_MESSAGE.format(
                state=fixed_reason(study), what=what, verb="are" if what[-1] == "s" else "is"
            )
        )


def _locked_study(study_id: int, values: dict[str, Any], fields: tuple[str, ...]) -> Study:
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"not a field of this page: {sorted(unknown)}")
    return Study.objects.select_for_update().get(pk=study_id)


def _save(study: Study, values: dict[str, Any], errors: dict[str, str]) -> Study:
    for name, value in values.items():
        setattr(study, name, value)
    try:
        study.full_clean()
    except ValidationError as exc:
        errors = {**exc.message_dict, **{k: [v] for k, v in errors.items()}}
    if errors:
        raise ValidationError(errors)
    study.save()
    return study


@transaction.atomic
def study_allocation_update(*, study_id: int, values: dict[str, Any]) -> Study:
    """Change the allocation design (while it is not fixed) and the quotas, time limit
    and technical exit (at any time). BuilderError for a fixed field; ValidationError
    naming the field at fault."""
    study = _locked_study(study_id, values, ALLOCATION_FIELDS)
    _refuse_fixed(study, values, ALLOCATION_FIXED, "the allocation design")
    errors: dict[str, str] = {}
    method = values.get("allocation_method", study.allocation_method)
    sizes = values.get("allocation_block_sizes", study.allocation_block_sizes)
    total = weight_total(study)
    if method != Study.AllocationMethod.SIMPLE and total and isinstance(sizes, list):
        # participation.allocation.design_problems refuses such a design at the first
        # allocation: say it here, where it can be fixed.
        wrong = [n for n in sizes if isinstance(n, int) and n % total]
        if wrong:
            errors["allocation_block_sizes"] = (
                f"Each block holds every arm as often as its weight, so a block size is a "
                f"multiple of the arms' weight total, {total}: "
                f"{', '.join(map(str, wrong))} {'is' if len(wrong) == 1 else 'are'} not "
                f"(e.g. {total}, {2 * total})."
            )
    stratified = method == Study.AllocationMethod.STRATIFIED_BLOCKS
    source = values.get("stratum_source", study.stratum_source)
    parameter = values.get("stratum_parameter", study.stratum_parameter)
    if parameter and not PARAMETER_RE.fullmatch(parameter):
        errors["stratum_parameter"] = (
            "A parameter name: a letter, then letters, digits or _ (e.g. site)."
        )
    elif parameter in RESERVED_PARAMETERS:
        errors["stratum_parameter"] = (
            f"{parameter} is already a parameter of the entry link: choose another name."
        )
    if stratified and source == Study.StratumSource.ENTRY_PARAMETER:
        accepted = values.get("stratum_values", study.stratum_values)
        bad = [v for v in accepted if isinstance(v, str) and not LINK_VALUE_RE.fullmatch(v)]
        if bad:
            errors["stratum_values"] = (
                f"“{bad[0]}” can never arrive on an entry link: letters, digits, - and _ "
                "only, 64 at most."
            )
    return _save(study, values, errors)


@transaction.atomic
def study_screening_update(*, study_id: int, values: dict[str, Any]) -> Study:
    """Change the screening question and its options, and the attention check. The
    options, the check's answer and tries are fixed with the design; the questions'
    wording may change then, but a question is not removed."""
    study = _locked_study(study_id, values, SCREENING_FIELDS)
    _refuse_fixed(study, values, SCREENING_FIXED, "the screening options and the check")
    errors: dict[str, str] = {}
    if design_fixed(study):
        for name, step in (("screening_question", "screening"), ("check_question", "check")):
            if getattr(study, name) and not values.get(name, getattr(study, name)):
                errors[name] = (
                    f"Participants have met this {step}: its wording may change, but it stays."
                )
    options = values.get("screening_options", study.screening_options)
    question = values.get("screening_question", study.screening_question)
    if options and not question:
        errors.setdefault("screening_question", "Write the question these options answer.")
    elif question and isinstance(options, list) and options:
        if len(options) < 2:
            errors["screening_options"] = "Give at least two options."
        elif not any(o.get("eligible") for o in options if isinstance(o, dict)):
            errors["screening_options"] = (
                "No option is eligible: every participant would be screened out."
            )
    checks = values.get("check_options", study.check_options)
    check_question = values.get("check_question", study.check_question)
    if checks and not check_question:
        errors.setdefault("check_question", "Write the question these options answer.")
    elif check_question and isinstance(checks, list):
        if len(checks) < 2:
            errors["check_options"] = "Give at least two options."
        elif not values.get("check_answer", study.check_answer):
            errors["check_answer"] = "Choose the correct answer."
    return _save(study, values, errors)


@transaction.atomic
def study_prolific_update(*, study_id: int, values: dict[str, Any]) -> Study:
    """Change the Prolific STUDY_ID, the completion URL and the completion codes (at any
    time: a wrong code is corrected while the study runs). ValidationError naming the
    field: a malformed id or code, a URL that is not https, two outcomes sharing a code
    (Prolific could not tell them apart, and would pay one as the other)."""
    study = _locked_study(study_id, values, PROLIFIC_FIELDS)
    errors: dict[str, str] = {}
    study_id_value = values.get("prolific_study_id", study.prolific_study_id)
    if study_id_value and not LINK_VALUE_RE.fullmatch(study_id_value):
        errors["prolific_study_id"] = (
            "Prolific's STUDY_ID: letters and digits (24 of them, from the study's page on "
            "Prolific)."
        )
    url = values.get("completion_url", study.completion_url)
    if url and not url.lower().startswith("https://"):
        errors["completion_url"] = (
            "An https:// address (Prolific's is https://app.prolific.com/submissions/"
            "complete?cc=…): participants' browsers would warn about any other."
        )
    first_with: dict[str, str] = {}
    for name in CODE_FIELDS:
        code = values.get(name, getattr(study, name))
        if not code:
            continue
        if not CODE_RE.fullmatch(code):
            errors[name] = "Letters, digits, - and _ only (it travels in the URL)."
            continue
        other = first_with.setdefault(code.casefold(), name)
        if other != name:
            errors[name] = (
                f"The same code as “{CODE_LABELS[other]}”: Prolific could not tell "
                "these outcomes apart. Give each outcome its own code."
            )
    return _save(study, values, errors)
