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
    """The start form's fields (evaluations.forms.StartRunForm), validated by that form."""

    kind: str
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
