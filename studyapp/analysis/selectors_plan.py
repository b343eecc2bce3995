"""Reads for the analysis plan's inferences (analysis.contrasts).

`plan_cells` groups every allocated human task in SQL by what an outcome or an analysis set
reads, so the page's figures cost one query whatever the number of participants;
`plan_task_rows` returns one row per task (with its participant and scenario) for the GEE
model and the bootstrap, which `study_report` computes and the dashboard reads from a cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import (
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from studyapp.analysis.contrasts import PlanAnalysis, TaskCell, analyse
from studyapp.analysis.selectors import condition_score
from studyapp.chat.models import Message
from studyapp.participation.models import Answer, Participant, Task, humans_q
from studyapp.studies.models import AnalysisPlan, Study
from studyapp.studies.services import plan_current, plan_locked


def _tasks(study: Study, min_turns: int):
    turns = (
        Message.objects.filter(conversation__task=OuterRef("pk"), role=Message.Role.USER)
        .order_by()
        .values("conversation__task")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Task.objects.filter(
            humans_q("participant__"),
            participant__study=study,
            participant__arm__isnull=False,
        )
        .order_by()
        .annotate(
            turns=Coalesce(Subquery(turns, output_field=IntegerField()), Value(0)),
            completed=ExpressionWrapper(
                Q(participant__status=Participant.Status.COMPLETED), output_field=BooleanField()
            ),
            check_passed=ExpressionWrapper(
                Q(participant__check_passed_at__isnull=False), output_field=BooleanField()
            ),
            turns_ok=Case(
                When(turns__gte=min_turns, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            answered=ExpressionWrapper(Q(answer__isnull=False), output_field=BooleanField()),
            distance=F("answer__disposition__value") - F("scenario__gold_disposition__value"),
            score=condition_score(study, prefix="answer__"),
            rf_applicable=ExpressionWrapper(
                ~Q(scenario__red_flags=[]), output_field=BooleanField()
            ),
            rf_named=ExpressionWrapper(
                Q(answer__isnull=False) & ~Q(answer__matched_red_flags=[]),
                output_field=BooleanField(),
            ),
        )
    )


FIELDS = (
    "participant__arm__key",
    "completed",
    "check_passed",
    "turns_ok",
    "answered",
    "distance",
    "score",
    "rf_applicable",
    "rf_named",
    "answer__confidence",
)


def _cell(row: dict[str, Any], **extra: Any) -> TaskCell:
    answered = bool(row["answered"])
    return TaskCell(
        arm=row["participant__arm__key"],
        completed=bool(row["completed"]),
        check_passed=bool(row["check_passed"]),
        turns_ok=bool(row["turns_ok"]),
        answered=answered,
        distance=row["distance"] if answered else None,
        conditions=row["score"] if answered else None,
        red_flag_applicable=bool(row["rf_applicable"]),
        red_flag=bool(row["rf_named"]) if answered else None,
        confidence=row["answer__confidence"] if answered else None,
        **extra,
    )


def plan_cells(*, study: Study, plan: dict[str, Any]) -> list[TaskCell]:
    """Allocated human tasks, counted per arm and every property the plan reads: one
    aggregate query."""
    rows = _tasks(study, plan["per_protocol"]["min_turns"]).values(*FIELDS).annotate(n=Count("pk"))
    return [_cell(row, n=row["n"]) for row in rows]


def plan_task_rows(*, study: Study, plan: dict[str, Any]) -> list[TaskCell]:
    """One cell per allocated human task, with its participant and scenario key."""
    rows = _tasks(study, plan["per_protocol"]["min_turns"]).values(
        *FIELDS, "participant_id", "scenario__key"
    )
    return [
        _cell(row, participant=row["participant_id"], scenario=row["scenario__key"])
        for row in rows
    ]


@dataclass(frozen=True)
class PlanState:
    current: AnalysisPlan
    locked: AnalysisPlan | None

    @property
    def amended(self) -> bool:
        return self.locked is not None and self.locked.pk != self.current.pk

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.current.version,
            "sha256": self.current.sha256,
            "locked_at": self.locked.locked_at.isoformat() if self.locked else None,
            "locked_version": self.locked.version if self.locked else None,
            "locked_sha256": self.locked.sha256 if self.locked else None,
            "design_sha256": self.locked.design_sha256 if self.locked else None,
            "amendment_reason": self.current.reason if self.amended else "",
            "name": self.current.content.get("name", ""),
            "content": self.current.content,
        }


def plan_state(*, study: Study) -> PlanState:
    current = plan_current(study=study)
    locked = current if current.locked_at else plan_locked(study=study)
    return PlanState(current=current, locked=locked)


def _arms(study: Study) -> list[tuple[str, str]]:
    return list(study.arms.order_by("key").values_list("key", "kind"))


def plan_analysis(
    *, study: Study, state: PlanState | None = None, models: bool = True
) -> PlanAnalysis:
    """The plan's inferences. `models`: fit the GEE model and the bootstrap for the
    confirmatory family now (the command line); False leaves them out."""
    state = state or plan_state(study=study)
    plan = state.current.content
    return analyse(
        plan_cells(study=study, plan=plan),
        plan=plan,
        arms=_arms(study),
        has_check=study.has_check,
        locked=state.locked.content if state.locked else None,
        participant_rows=plan_task_rows(study=study, plan=plan) if models else None,
    )


# --- The model-based figures for the page, cached per data version ---------------------


def data_version(*, study: Study, state: PlanState) -> str:
    """Changes whenever an answer, an allocation, a participant's status or the plan
    changes: the key of the cached model fits."""
    answers = Answer.objects.filter(task__participant__study=study).aggregate(
        n=Count("pk"), last=Max("updated_at")
    )
    participants = Participant.objects.filter(study=study).aggregate(
        n=Count("pk"), last=Max("updated_at")
    )
    return ":".join(
        str(v)
        for v in (
            state.current.sha256[:16],
            state.locked.pk if state.locked else "-",
            answers["n"],
            answers["last"].timestamp() if answers["last"] else "-",
            participants["n"],
            participants["last"].timestamp() if participants["last"] else "-",
        )
    )


def model_cache_key(*, study: Study, version: str) -> str:
    return f"analysis:plan-models:{study.pk}:{version}"


def cached_model_figures(*, study: Study, version: str) -> dict[str, Any] | None:
    """{result key: {"adjusted", "bootstrap"}} when a fit for this data version is cached."""
    return cache.get(model_cache_key(study=study, version=version))


def store_model_figures(*, study: Study, version: str, analysis: PlanAnalysis) -> None:
    figures = {
        result_key(r): {"adjusted": r.adjusted, "bootstrap": r.bootstrap}
        for r in analysis.results
        if r.adjusted is not None
    }
    cache.set(model_cache_key(study=study, version=version), figures, timeout=7 * 24 * 3600)


def result_key(result) -> str:
    return f"{result.contrast}|{result.outcome}|{result.analysis_set}"
