"""Reads for the analysis plan's inferences (analysis.contrasts).

`plan_cells` groups every allocated human task in SQL by what an outcome or an analysis set
reads, so the page's figures cost one query whatever the number of participants;
`plan_task_rows` returns one row per task (with its participant and scenario) for the GEE
model and the bootstrap, which `study_report` computes and the dashboard reads from a cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Value,
)

from studyapp.analysis.blinding import arm_views
from studyapp.analysis.contrasts import (
    CalibrationResult,
    ContrastResult,
    PlanAnalysis,
    TaskCell,
    analyse,
)
from studyapp.analysis.selectors import arm_infos, blinding_salt, condition_score
from studyapp.chat.models import Message
from studyapp.participation.models import Answer, Participant, Task, humans_q
from studyapp.studies import analysis_plan as plans
from studyapp.studies.models import AnalysisPlan, Study


def _turns_ok(min_turns: int):
    """Whether the task's chat holds at least `min_turns` participant messages: the
    min_turns-th one exists (an index lookup that stops there, where counting them all
    for each of 20,000 tasks cost half the query)."""
    if min_turns <= 0:
        return Value(True, output_field=BooleanField())
    nth = (
        Message.objects.filter(conversation__task=OuterRef("pk"), role=Message.Role.USER)
        .order_by("sequence")
        .values("pk")[min_turns - 1 : min_turns]
    )
    # Exists drops the ordering and keeps the offset: "OFFSET k-1 LIMIT 1".
    return Exists(nth)


def _tasks(study: Study, min_turns: int):
    return (
        Task.objects.filter(
            humans_q("participant__"),
            participant__study=study,
            participant__arm__isnull=False,
        )
        .order_by()
        .annotate(
            completed=ExpressionWrapper(
                Q(participant__status=Participant.Status.COMPLETED), output_field=BooleanField()
            ),
            check_passed=ExpressionWrapper(
                Q(participant__check_passed_at__isnull=False), output_field=BooleanField()
            ),
            turns_ok=_turns_ok(min_turns),
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
    """The current and the locked version, in one query (a study has a few versions)."""
    versions = list(AnalysisPlan.objects.filter(study=study).order_by("version"))
    if not versions:
        # Nobody wrote one: HELPMed's default, as plan_current would store it (a read
        # does not write; the first edit or allocation stores it).
        content = plans.default_plan(condition_labels=study.condition_labels)
        versions = [
            AnalysisPlan(
                study=study, version=1, content=content, sha256=plans.plan_sha256(content)
            )
        ]
    locked = next((v for v in versions if v.locked_at is not None), None)
    return PlanState(current=versions[-1], locked=locked)


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


def data_version(
    *,
    study: Study,
    state: PlanState,
    cells: list[TaskCell],
    arms: list[tuple[str, str]] | None = None,
) -> str:
    """Changes whenever the plan, an allocation, a participant's status, a score or an
    answer changes: the key of the cached model fits. The cells carry every count the
    figures read; the answers' count and last change catch an edit that keeps them."""
    answers = Answer.objects.filter(task__participant__study=study).aggregate(
        n=Count("pk"), last=Max("updated_at")
    )
    digest = hashlib.sha256(
        repr(
            (
                state.current.sha256,
                state.locked.pk if state.locked else None,
                sorted(repr(cell) for cell in cells),
                arms if arms is not None else _arms(study),
                study.has_check,
                answers["n"],
                answers["last"].isoformat() if answers["last"] else None,
            )
        ).encode()
    )
    return digest.hexdigest()[:32]


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


# --- The dashboard's section -------------------------------------------------------------


@dataclass(frozen=True)
class ContrastRow:
    label: str
    result: ContrastResult
    adjusted: dict[str, Any] | None
    bootstrap: dict[str, Any] | None


@dataclass(frozen=True)
class CalibrationRow:
    arm: str
    result: CalibrationResult


@dataclass(frozen=True)
class PlanSection:
    state: PlanState
    rows: list[ContrastRow]
    calibration: list[CalibrationRow]
    calibration_target: str
    # Inferential figures withheld: the study is live and nobody revealed them.
    hidden: bool
    # The models for this data version are being fitted (not cached yet).
    models_pending: bool
    data_version: str
    blinded: bool

    @property
    def groups(self) -> list[tuple[str, str, list[ContrastRow]]]:
        """(id, title, rows) in the page's order: the confirmatory family (primary outcomes
        in the primary analysis set), then secondary outcomes, then each sensitivity set;
        within each, the primary contrast first."""
        plan = self.state.current.content
        primary_set = plan["primary_analysis_set"]

        def ordered(rows: list[ContrastRow]) -> list[ContrastRow]:
            return sorted(rows, key=lambda row: not row.result.primary_contrast)

        out = [
            (
                "confirmatory",
                f"Primary outcomes, {primary_set} (the confirmatory family)",
                ordered(
                    [
                        r
                        for r in self.rows
                        if r.result.analysis_set == primary_set and r.result.role == "primary"
                    ]
                ),
            ),
            (
                "secondary",
                f"Secondary outcomes, {primary_set}",
                ordered(
                    [
                        r
                        for r in self.rows
                        if r.result.analysis_set == primary_set and r.result.role == "secondary"
                    ]
                ),
            ),
        ]
        for name in plans.analysis_sets(plan)[1:]:
            out.append(
                (
                    f"sensitivity-{name}",
                    f"Sensitivity: {name}",
                    ordered([r for r in self.rows if r.result.analysis_set == name]),
                )
            )
        return [group for group in out if group[2]]

    @property
    def definitions(self) -> dict[str, Any]:
        plan = self.state.current.content
        return {
            "outcomes": [(plans.OUTCOMES[o["key"]], o["role"]) for o in plan["outcomes"]],
            "sets": [(name, plans.ANALYSIS_SETS[name]) for name in plans.analysis_sets(plan)],
            "itt_missing": plans.ITT_MISSING[plan["itt_missing"]],
            "test_rule": plans.TEST_RULE,
            "multiplicity": plans.MULTIPLICITY[plan["multiplicity"]],
            "adjusted": plans.ADJUSTED,
            "sensitivity": plans.SENSITIVITY,
        }


def _group_name(keys: tuple[str, ...], names: dict[str, str]) -> str:
    return " + ".join(names.get(key, key) for key in keys) or "(no arm)"


def plan_section(*, study: Study, blinded: bool, revealed: bool) -> PlanSection:
    """The plan's contrasts for the dashboard: computed now (one aggregate query), the
    GEE models and bootstraps read from the cache of this data version (`models_pending`
    when a worker has yet to fit them). Blinded, the groups are named by letter, the
    control as the reference: the same contrasts, other names. Live and not `revealed`,
    only the counts are kept (`hidden`)."""
    state = plan_state(study=study)
    plan = state.current.content
    infos = arm_infos(study=study)
    arms = [(info.key, info.kind) for info in infos]
    cells = plan_cells(study=study, plan=plan)
    version = data_version(study=study, state=state, cells=cells, arms=arms)
    # The tests cost more than the query (Fisher's exact test on large tables above all):
    # computed once per data version, as the model fits are.
    figures_key = f"analysis:plan-figures:{study.pk}:{version}"
    analysis = cache.get(figures_key)
    if analysis is None:
        analysis = analyse(
            cells,
            plan=plan,
            arms=arms,
            has_check=study.has_check,
            locked=state.locked.content if state.locked else None,
        )
        cache.set(figures_key, analysis, timeout=24 * 3600)
    hidden = study.is_running and not revealed
    cached = None if hidden else cached_model_figures(study=study, version=version)
    views = arm_views(infos, blinded=False, salt=blinding_salt(study))
    names = {v.key: (v.letter if blinded else v.key) for v in views}
    contrasts = {c.key: c for c in plans.resolve_contrasts(plan, arms=arms)}
    rows = []
    for result in analysis.results:
        contrast = contrasts[result.contrast]
        if blinded:
            label = (
                f"{_group_name(contrast.a.arm_keys, names)} vs "
                f"{_group_name(contrast.b.arm_keys, names)}"
            )
        else:
            label = result.label
        models = (cached or {}).get(result_key(result), {})
        rows.append(
            ContrastRow(
                label=label,
                result=result,
                adjusted=models.get("adjusted"),
                bootstrap=models.get("bootstrap"),
            )
        )
    order = {v.key: i for i, v in enumerate(sorted(views, key=lambda v: v.letter))}
    calibration = (
        sorted(analysis.calibration, key=lambda c: order.get(c.arm, 0))
        if blinded
        else analysis.calibration
    )
    return PlanSection(
        state=state,
        rows=rows,
        calibration=[CalibrationRow(arm=names.get(c.arm, c.arm), result=c) for c in calibration],
        calibration_target=analysis.calibration_target,
        hidden=hidden,
        models_pending=not hidden and cached is None and plan.get("adjusted") != "none",
        data_version=version,
        blinded=blinded,
    )
