"""{% questionnaire_summary study arms %}: the dashboard's questionnaire figures per arm
(`arms`: the dashboard's ArmViews, so a blinded dashboard names arms by letter). One query
for a study without questionnaires; six with (questionnaires.selectors)."""

from __future__ import annotations

from dataclasses import dataclass

from django import template

from studyapp.questionnaires.selectors import study_answer_summary, study_questionnaires_with_items
from studyapp.questionnaires.validation import Kind

register = template.Library()


@dataclass(frozen=True)
class Cell:
    n: int
    mean: float | None
    # [(label, n)] in the options' order (choice items).
    counts: list[tuple[str, int]]


@dataclass(frozen=True)
class Row:
    questionnaire_key: str
    item_key: str
    text: str
    kind: str
    cells: list[Cell]


@register.inclusion_tag("questionnaires/_dashboard_summary.html")
def questionnaire_summary(study, arms) -> dict:
    questionnaires = study_questionnaires_with_items(study_id=study.pk)
    if not questionnaires:
        return {"rows": [], "arms": arms}
    summary = study_answer_summary(study_id=study.pk)
    rows = []
    for questionnaire in questionnaires:
        for item in questionnaire.items.all():
            per_arm = summary.get(item.pk, {})
            cells = []
            for arm in arms:
                cell = per_arm.get(arm.id, {"n": 0, "mean": None, "counts": {}})
                counts = []
                if item.kind in (Kind.SINGLE, Kind.MULTIPLE):
                    counts = [
                        (str(o.get("label", "")), cell["counts"].get(str(o.get("value")), 0))
                        for o in item.options
                    ]
                cells.append(Cell(n=cell["n"], mean=cell["mean"], counts=counts))
            rows.append(Row(questionnaire.key, item.key, item.text, item.kind, cells))
    return {"rows": rows, "arms": arms}
