"""The API's response shapes (OpenAPI components)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema


class StudyOut(Schema):
    slug: str
    title: str
    status: str
    role: str | None  # the user's membership role; None for a superuser who is no member


class ArmOut(Schema):
    letter: str  # the blinded letter, the same on every page and export
    key: str | None = None  # the rest: only for users who see arms unblinded
    kind: str | None = None
    label: str | None = None
    model: str | None = None


class ScenarioOut(Schema):
    key: str
    version: int
    title: str
    is_active: bool


class StudyDetailOut(StudyOut):
    blinded: bool
    scenarios_per_participant: int
    languages: list[str]
    arms: list[ArmOut]
    scenarios: list[ScenarioOut]


class ParticipantOut(Schema):
    id: int  # participant_id in the exports
    state: str  # participation.states.State
    arm: str | None = None  # the arm's key: only unblinded
    arm_letter: str | None = None
    language: str
    is_simulated: bool
    is_pilot: bool = False  # listed only with include_pilot=true
    created_at: datetime
    completed_at: datetime | None


class EvaluationRunOut(Schema):
    id: int
    key: str
    kind: str
    status: str
    items_total: int
    items_done: int
    items_failed: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CancelOut(Schema):
    cancelled: bool  # False: the run had already ended
    run: EvaluationRunOut


class ErrorOut(Schema):
    detail: str


# The refusals every route may answer: no usable token, a scope missing (or two-factor
# authentication the study requires), a study the user may not see, the rate limit.
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut}


class TablePageOut(Schema):
    """A page of an export table's rows, each an object of the table's visible columns
    (their meaning: the data dictionary, /studies/<slug>/exports/data_dictionary.json)."""

    table: str
    columns: list[str]
    count: int
    page: int
    page_size: int
    items: list[dict[str, Any]]


class EvaluationStartIn(Schema):
    """The start form's fields (evaluations.forms.StartRunForm), validated by that form
    (which needs `kind`)."""

    kind: str = ""
    arm: str = ""
    n: int | None = None
    asked: str = "together"
    name: str = ""
    prompt_template: str = ""
    items_file: str = ""
    patient_endpoint: str = ""
    grader_endpoint: str = ""
    grade_humans: bool = False
    human_arm: str = ""
    source_runs: list[str] = []


class FormErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]]  # field ("__all__": the whole form) -> messages


# --- Writing a study's design (api.routes_design) ------------------------------------------
# The bodies' fields are all optional in the schema: the builder's forms judge them (which
# are required, which are fixed once participants exist), so a field error reads as on the
# page and comes back as FormErrorOut (422) naming the field. A PATCH changes the fields
# given and keeps the others.


class StudyCreateIn(Schema):
    """A new draft study from a design file (the JSON "Download the design" and
    export_design write), imported as the design upload page does."""

    slug: str | None = None
    title: str | None = None  # empty: the file's title
    design: dict[str, Any] | None = None


class StudySettingsIO(Schema):
    """The settings page's fields (studies.forms_builder.StudySettingsForm)."""

    title: str | None = None
    public_title: str | None = None
    consent_text: str | None = None
    instructions_text: str | None = None
    disposition_question: str | None = None
    conditions_question: str | None = None
    disposition_scale: str | None = None  # the scale's slug; fixed once started
    languages: list[str] | None = None  # the first the default; fixed once started
    require_mfa: bool | None = None  # owners only


class SectionIO(Schema):
    heading: str = ""
    text: str = ""


class ScenarioIn(Schema):
    """The scenario form's fields (studies.forms_builder.ScenarioForm); `key` only when
    creating (it names every version)."""

    key: str | None = None
    title: str | None = None
    sections: list[SectionIO] | None = None
    gold_disposition: str | None = None  # a level's code in the study's scale
    gold_conditions: list[str] | None = None
    red_flags: list[str] | None = None
    condition_synonyms: dict[str, list[str]] | None = None  # gold term -> other names
    # As in design files (studies.content): [{"key", "text", "patterns"}] and
    # [{"key", "text", "applies_to", "points"}]; left out, they stay as they are.
    key_facts: list[dict[str, Any]] | None = None
    rubric: list[dict[str, Any]] | None = None
    provenance: str | None = None


class ScenarioDetailOut(Schema):
    """A scenario's active version in full, gold answers included (for the roles that
    see the design, as the design file)."""

    key: str
    version: int
    is_active: bool
    title: str
    sections: list[SectionIO]
    gold_disposition: str
    gold_conditions: list[str]
    red_flags: list[str]
    condition_synonyms: dict[str, list[str]]
    key_facts: list[dict[str, Any]]
    rubric: list[dict[str, Any]]
    provenance: str


class ScenarioSavedOut(ScenarioDetailOut):
    # True: participants or evaluations used the version edited, which stays as they saw
    # it; this is the next version, now the active one.
    new_version: bool


class ArmIn(Schema):
    """The arm form's fields (studies.forms_builder.ArmForm); key, kind and weight are
    fixed once participants are allocated to the arm."""

    key: str | None = None
    kind: str | None = None  # "llm" or "control"
    participant_label: str | None = None
    endpoint: str | None = None  # a model endpoint's name, among those the user may use
    system_prompt: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    min_turns: int | None = None
    max_turns: int | None = None
    weight: int | None = None
    reply_timeout_s: float | None = None
    control_instructions: str | None = None
    blinding_terms: list[str] | None = None


class ArmDetailOut(Schema):
    key: str
    kind: str
    participant_label: str
    endpoint: str | None  # the endpoint's name (never its address or key)
    model: str | None
    system_prompt: str
    sampling_params: dict[str, Any]
    min_turns: int
    max_turns: int
    weight: int
    reply_timeout_s: float | None
    control_instructions: str
    blinding_terms: list[str]
