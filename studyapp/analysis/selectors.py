"""Bulk reads for the investigator pages and the study report.

Each function issues a fixed number of queries, whatever the number of participants:
counts are aggregated in SQL, and answers come back as plain rows in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import (
    CharField,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from studyapp.analysis.blinding import ArmInfo, ArmView, arm_views
from studyapp.analysis.consort import study_consort
from studyapp.analysis.dashboard import (
    AnswerCell,
    Dashboard,
    LanguageCells,
    LevelInfo,
    MentionRow,
    ScenarioInfo,
    build_dashboard,
)
from studyapp.analysis.metrics import (
    AnswerRow,
    ArmReport,
    ConditionLabelling,
    EvaluationReport,
    Proportion,
    StateRow,
    StudyReport,
    answer_figures,
    answer_figures_by_arm,
    status_counts,
)
from studyapp.analysis.models import ConversationScore
from studyapp.chat.models import Conversation, Message
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.selectors import evaluation_results_by_key
from studyapp.participation.language import language_choices
from studyapp.participation.models import (
    Answer,
    Participant,
    ParticipantEvent,
    Task,
    humans_q,
)
from studyapp.participation.selectors import StateCounts, study_state_counts
from studyapp.participation.states import State
from studyapp.ratings.grader import grader_agreement
from studyapp.scoring.conditions import SCORER_VERSION
from studyapp.scoring.transcripts import model_named_but_answer_omitted, score_transcript
from studyapp.studies.models import Arm, DispositionLevel, Scenario, Study


def _count_subquery(queryset: QuerySet, outer_field: str = "pk") -> Coalesce:
    counts = (
        queryset.filter(study=OuterRef(outer_field))
        .order_by()
        .values("study")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


# --- Which condition scores the figures read -----------------------------------------------
# The analysis plan's choice (its "condition_labels", mirrored on Study.condition_labels
# so it is read with the study): "matcher" reads the matcher's stored score everywhere;
# "reference" reads an answer's rater reference label (ratings.ReferenceLabel, kept in
# step by the ratings services)
# where it has one, and the matcher's elsewhere. A LEFT JOIN in the same query: no figure
# costs a query more. Simulated participants stay out whatever the choice.


def uses_reference_labels(study: Study) -> bool:
    return study.condition_labels == Study.ConditionLabels.REFERENCE


def condition_score(study: Study, prefix: str = ""):
    """The condition score of an answer (reached through `prefix`) that the figures read."""
    stored = F(f"{prefix}conditions_correct")
    if not uses_reference_labels(study):
        return stored
    return Coalesce(f"{prefix}reference_label__conditions_correct", stored)


def reference_source(study: Study, prefix: str = ""):
    """The source of the reference label the figures read for an answer (adjudicated,
    agreed), or None: the matcher's score is read."""
    if not uses_reference_labels(study):
        return Value(None, output_field=CharField())
    return F(f"{prefix}reference_label__source")


def study_list_for_user(*, user) -> QuerySet[Study]:
    """The studies `user` may see, each with arm, participant and answer counts in the
    words of participation.states, counted as the study page's state table counts them
    (participants, plus the withdrawn from the event log), so the two agree: opened the
    link (CONSORT's assessed), allocated (CONSORT's allocated) and finished (the state:
    CONSORT's analysed)."""
    withdrawn = ParticipantEvent.objects.of_humans().filter(kind=ParticipantEvent.Kind.WITHDRAWN)
    answers = (
        Answer.objects.of_humans()
        .filter(task__participant__study=OuterRef("pk"))
        .order_by()
        .values("task__participant__study")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Study.objects.visible_to(user)
        .annotate(
            n_arms=_count_subquery(Arm.objects.all()),
            n_opened=_count_subquery(Participant.objects.humans()) + _count_subquery(withdrawn),
            n_allocated=_count_subquery(Participant.objects.humans().filter(arm__isnull=False))
            + _count_subquery(withdrawn.filter(arm__isnull=False)),
            n_finished=_count_subquery(
                Participant.objects.humans().filter(status=Participant.Status.COMPLETED)
            ),
            n_answers=Coalesce(Subquery(answers, output_field=IntegerField()), Value(0)),
        )
        .order_by("-created_at")
    )


def answer_rows_for_study(
    *, study: Study, language: str = "", include_pilot: bool = False
) -> list[AnswerRow]:
    """Humans' answers (of participants who took part in `language`, when given; the
    pilot's only with `include_pilot`)."""
    by_language = {"task__participant__language": language} if language else {}
    rows = (
        Answer.objects.of_humans(include_pilot=include_pilot)
        .filter(task__participant__study=study, **by_language)
        .order_by("pk")
        .annotate(score=condition_score(study), source=reference_source(study))
        .values_list(
            "task__participant__arm_id",
            "disposition__value",
            "task__scenario__gold_disposition__value",
            "conditions_text",
            "task__scenario__gold_conditions",
            "score",
            "task__scenario__condition_synonyms",
            "source",
        )
    )
    return [
        AnswerRow(
            arm_id=arm_id,
            answer_value=answer_value,
            gold_value=gold_value,
            conditions_text=conditions_text,
            gold_conditions=gold_conditions or [],
            conditions_correct=conditions_correct,
            synonyms=synonyms or None,
            rater_labelled=source is not None,
        )
        for (
            arm_id,
            answer_value,
            gold_value,
            conditions_text,
            gold_conditions,
            conditions_correct,
            synonyms,
            source,
        ) in rows
    ]


def evaluation_reports_for_study(*, study: Study) -> list[EvaluationReport]:
    """One row per evaluation run with its item counts, aggregated in one query."""
    scored_conditions = Q(items__conditions_correct__isnull=False)
    scored_disposition = ~Q(items__disposition_outcome="")
    runs = (
        EvaluationRun.objects.filter(study=study)
        .order_by("kind", "key")
        .values("pk", "key", "kind", "model_label", "status", "arm__key")
        .annotate(
            n_items=Count("items"),
            n_conditions=Count("items", filter=scored_conditions),
            conditions_correct=Count("items", filter=Q(items__conditions_correct=True)),
            n_disposition=Count("items", filter=scored_disposition),
            disposition_exact=Count("items", filter=Q(items__disposition_outcome="exact")),
        )
    )
    return [
        EvaluationReport(
            id=run["pk"],
            key=run["key"],
            kind=run["kind"],
            model=run["model_label"],
            status=run["status"],
            arm_key=run["arm__key"],
            n_items=run["n_items"],
            conditions=Proportion(n=run["n_conditions"], correct=run["conditions_correct"]),
            disposition=Proportion(n=run["n_disposition"], correct=run["disposition_exact"]),
        )
        for run in runs
    ]


def participant_counts_for_study(
    *, study: Study, language: str = ""
) -> dict[int | None, dict[str, int]]:
    """{arm id (None = not allocated): {status: n}} in one aggregate query (of those who
    took part in `language`, when given)."""
    counts: dict[int | None, dict[str, int]] = {}
    by_language = {"language": language} if language else {}
    rows = (
        Participant.objects.humans()
        .filter(study=study, **by_language)
        .order_by()
        .values_list("arm_id", "status")
        .annotate(n=Count("pk"))
    )
    for arm_id, status, n in rows:
        counts.setdefault(arm_id, {})[status] = n
    return counts


def _participant_statuses() -> list[str]:
    return [str(value) for value in Participant.Status.values]


def _arm_reports(
    *,
    arms: Sequence[ArmInfo],
    counts: dict[int | None, dict[str, int]],
    rows: Sequence[AnswerRow],
) -> list[ArmReport]:
    statuses = _participant_statuses()
    figures = answer_figures_by_arm(rows)
    empty = answer_figures([])
    return [
        ArmReport(
            **asdict(arm),
            participants=status_counts(counts.get(arm.id, {}), statuses),
            figures=figures.get(arm.id, empty),
        )
        for arm in arms
    ]


def study_report(*, study: Study, include_pilot: bool = False) -> StudyReport:
    """Per-arm participants and answer figures: the page and `study_report` share it.
    The main phase's; the pilot's participants too only with `include_pilot`."""
    statuses = _participant_statuses()
    arms = arm_infos(study=study)
    states = study_state_counts(study=study, include_pilot=include_pilot)
    counts = states.by_status
    rows = answer_rows_for_study(study=study, include_pilot=include_pilot)
    rater_labelled = sum(row.rater_labelled for row in rows)
    return StudyReport(
        slug=study.slug,
        title=study.title,
        generated_at=timezone.now().isoformat(),
        statuses=[(value, value.replace("_", " ")) for value in statuses],
        arms=_arm_reports(arms=arms, counts=counts, rows=rows),
        unallocated=status_counts(counts.get(None, {}), statuses),
        evaluations=evaluation_reports_for_study(study=study),
        condition_labels=ConditionLabelling(
            choice=study.condition_labels,
            rater_labelled=rater_labelled,
            matcher=len(rows) - rater_labelled,
        ),
        state_rows=state_rows(arms=arms, counts=states),
        pilot_participants=states.pilot,
        pilot_included=include_pilot,
    )


def state_rows(*, arms: Sequence[ArmInfo], counts: StateCounts) -> list[StateRow]:
    """The arms' rows in the page's order, then one for those without an arm (only when
    there are some); every state in participation.states' order."""
    codes = [str(state) for state in State]
    rows = [
        StateRow(key=arm.key, counts=status_counts(counts.by_arm.get(arm.id, {}), codes))
        for arm in arms
    ]
    if counts.by_arm.get(None):
        rows.append(StateRow(key="", counts=status_counts(counts.by_arm[None], codes)))
    return rows


def study_report_data(*, study: Study) -> dict[str, Any]:
    """What `study_report --format json` prints: the study page's figures, the CONSORT
    numbers, and each evaluation run's own results (MCQ accuracy, robustness table,
    tokens and cost...) under its row."""
    data = study_report(study=study).as_dict()
    data["consort"] = study_consort(study=study).as_dict()
    results = evaluation_results_by_key(study=study)
    # A rubric run's scores have the grader's agreement with the raters beside them.
    for run in EvaluationRun.objects.filter(study=study, kind=EvaluationRun.Kind.RUBRIC):
        results[run.key]["grader_agreement"] = grader_agreement(run=run)
    for evaluation in data.get("evaluations", []):
        evaluation["results"] = results.get(evaluation["key"])
    languages = study_languages_to_split(study=study)
    if languages:
        data["by_language"] = study_report_by_language(study=study, languages=languages)
    data.update(plan_report_data(study=study))
    return data


def plan_report_data(*, study: Study) -> dict[str, Any]:
    """The analysis plan (version, sha256, locked_at...), its contrasts (one object per
    contrast x outcome x analysis set, the GEE model and the bootstrap beside the
    confirmatory ones) and calibration per arm: everything, unblinded, fitted now."""
    from studyapp.analysis.selectors_plan import plan_analysis, plan_state

    state = plan_state(study=study)
    analysis = plan_analysis(study=study, state=state, models=True)
    return {
        "plan": state.as_dict(),
        "contrasts": [result.as_dict() for result in analysis.results],
        "calibration": {
            "target": analysis.calibration_target,
            "arms": [c.as_dict() for c in analysis.calibration],
        },
    }


def study_languages_to_split(*, study: Study) -> list[tuple[str, str]]:
    """(code, name) of the study's languages in its order when it has several; none when
    it runs in one (there is nothing to split)."""
    choices = language_choices(list(study.languages or []))
    return choices if len(choices) > 1 else []


def study_report_by_language(
    *, study: Study, languages: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Per language, the report's arms (participants by status, answer figures) counting
    only the participants who took part in it. Two queries a language (and one for the
    arms)."""
    arms = arm_infos(study=study)
    return [
        {
            "language": code,
            "name": name,
            "arms": [
                report.as_dict()
                for report in _arm_reports(
                    arms=arms,
                    counts=participant_counts_for_study(study=study, language=code),
                    rows=answer_rows_for_study(study=study, language=code),
                )
            ],
        }
        for code, name in languages
    ]


# --- Analysis dashboard, task list and transcripts (bulk reads) ---------------------------
# Every function below issues a fixed number of queries whatever the number of
# participants: answers are grouped in SQL, so Python sees a few hundred rows at most.


@dataclass(frozen=True)
class AnswerFilters:
    """Which participants' answers count (the dashboard's filter form)."""

    completed_only: bool = False
    attention_passed: bool = False
    # Enrolment date (Participant.created_at, UTC), both ends included.
    date_from: date | None = None
    date_to: date | None = None
    # The language the participant took part in (Participant.language); "": all.
    language: str = ""
    # The pilot's participants too (the page's "Include the pilot", ?pilot=include): the
    # main analysis leaves them out.
    include_pilot: bool = False


def participant_q(filters: AnswerFilters, *, prefix: str = "") -> Q:
    """The filters as a condition on Participant, reached through `prefix`.

    Always humans only: simulated patients of evaluation runs are never in these figures.
    """
    q = humans_q(prefix, include_pilot=filters.include_pilot)
    if filters.completed_only:
        q &= Q(**{f"{prefix}status": Participant.Status.COMPLETED})
    if filters.attention_passed:
        q &= Q(**{f"{prefix}check_passed_at__isnull": False})
    if filters.date_from:
        start = datetime.combine(filters.date_from, time.min, tzinfo=UTC)
        q &= Q(**{f"{prefix}created_at__gte": start})
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        q &= Q(**{f"{prefix}created_at__lt": end})
    if filters.language:
        q &= Q(**{f"{prefix}language": filters.language})
    return q


def blinding_salt(study: Study) -> str:
    # The allocation seed is not shown to a blinded analyst, so the letter order cannot be
    # reproduced from what they see.
    return f"{study.pk}:{study.allocation_seed}"


def arm_infos(*, study: Study) -> list[ArmInfo]:
    arms = Arm.objects.filter(study=study).select_related("endpoint").order_by("key")
    return [
        ArmInfo(
            id=arm.pk,
            key=arm.key,
            kind=arm.kind,
            label=arm.participant_label,
            endpoint=arm.endpoint.name if arm.endpoint else None,
            model=arm.endpoint.model if arm.endpoint else None,
            is_scripted=bool(arm.endpoint and arm.endpoint.is_scripted),
            is_test_model=bool(arm.endpoint and arm.endpoint.is_test_model),
        )
        for arm in arms
    ]


def study_arm_views(*, study: Study, blinded: bool) -> list[ArmView]:
    return arm_views(arm_infos(study=study), blinded=blinded, salt=blinding_salt(study))


def scenario_infos(*, study: Study) -> list[ScenarioInfo]:
    rows = Scenario.objects.filter(study=study).order_by("key", "version")
    return [
        ScenarioInfo(id=s.pk, key=s.key, version=s.version, title=s.title)
        for s in rows.only("pk", "key", "version", "title")
    ]


def level_infos(*, study: Study) -> list[LevelInfo]:
    rows = DispositionLevel.objects.filter(scale_id=study.disposition_scale_id).order_by("-value")
    return [
        LevelInfo(value=v, code=c, label=lb)
        for v, c, lb in rows.values_list("value", "code", "label")
    ]


def answer_cells(*, study: Study, filters: AnswerFilters) -> list[AnswerCell]:
    """Answers of allocated participants, counted per arm, scenario, chosen level, gold
    level and condition score (and, where the study reads rater reference labels, whether
    the score is one)."""
    # Grouping by a constant is refused by PostgreSQL: the source is a key only when read.
    source = {"source": reference_source(study)} if uses_reference_labels(study) else {}
    rows = (
        Answer.objects.filter(
            participant_q(filters, prefix="task__participant__"),
            task__participant__study=study,
            task__participant__arm__isnull=False,
        )
        .order_by()
        .annotate(score=condition_score(study), **source)
        .values(
            "task__participant__arm_id",
            "task__scenario_id",
            "disposition__value",
            "task__scenario__gold_disposition__value",
            "score",
            *source,
        )
        .annotate(n=Count("pk"), confidence_sum=Sum("confidence"))
    )
    return [
        AnswerCell(
            arm_id=row["task__participant__arm_id"],
            scenario_id=row["task__scenario_id"],
            answer_value=row["disposition__value"],
            gold_value=row["task__scenario__gold_disposition__value"],
            conditions_correct=row["score"],
            n=row["n"],
            confidence_sum=row["confidence_sum"] or 0,
            rater_labelled=row.get("source") is not None,
        )
        for row in rows
    ]


def participant_counts_by_arm(*, study: Study, filters: AnswerFilters) -> dict[int, int]:
    rows = (
        Participant.objects.filter(participant_q(filters), study=study, arm__isnull=False)
        .order_by()
        .values_list("arm_id")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def _scored_conversations(study: Study):
    return ConversationScore.objects.filter(
        conversation__task__participant__study=study,
        conversation__task__answer__isnull=False,
        scorer_version=SCORER_VERSION,
    )


def mention_rows(*, study: Study, filters: AnswerFilters) -> list[MentionRow]:
    """Per arm, over answered tasks with a current transcript score: how often the model
    and the participant named a gold condition in the chat, and the answer did."""
    rows = (
        _scored_conversations(study)
        .filter(participant_q(filters, prefix="conversation__task__participant__"))
        .order_by()
        .annotate(answer_score=condition_score(study, prefix="conversation__task__answer__"))
        .values("conversation__task__participant__arm_id")
        .annotate(
            tasks=Count("pk"),
            model_named=Count("pk", filter=Q(model_named_any=True)),
            participant_named=Count("pk", filter=Q(participant_named_any=True)),
            answer_named=Count("pk", filter=Q(answer_score=True)),
            omitted=Count("pk", filter=Q(model_named_any=True) & Q(answer_score=False)),
        )
    )
    return [
        MentionRow(
            arm_id=row["conversation__task__participant__arm_id"],
            tasks=row["tasks"],
            model_named=row["model_named"],
            participant_named=row["participant_named"],
            answer_named=row["answer_named"],
            model_named_answer_omitted=row["omitted"],
        )
        for row in rows
        if row["conversation__task__participant__arm_id"] is not None
    ]


def conversations_to_score(*, study: Study) -> QuerySet[Conversation]:
    """Answered conversations without a transcript score of the current scorer version."""
    return Conversation.objects.filter(
        Q(analysis_score__isnull=True) | ~Q(analysis_score__scorer_version=SCORER_VERSION),
        task__participant__study=study,
        task__answer__isnull=False,
    )


def language_cells(
    *, study: Study, filters: AnswerFilters, languages: Sequence[tuple[str, str]]
) -> list[LanguageCells]:
    """Per language (one the filters keep), the answer cells and participants per arm
    under the filters narrowed to it: the per-arm table's reads, two queries a language."""
    shown = [(c, n) for c, n in languages if not filters.language or c == filters.language]
    return [
        LanguageCells(
            code=code,
            name=name,
            cells=answer_cells(study=study, filters=replace(filters, language=code)),
            participants=participant_counts_by_arm(
                study=study, filters=replace(filters, language=code)
            ),
        )
        for code, name in shown
    ]


def dashboard(*, study: Study, filters: AnswerFilters, blinded: bool) -> Dashboard:
    """Everything the analysis dashboard shows, in seven queries (and two a language for
    the by-language table of a study run in several)."""
    arms = study_arm_views(study=study, blinded=blinded)
    return build_dashboard(
        arms=arms,
        scenarios=scenario_infos(study=study),
        levels=level_infos(study=study),
        cells=answer_cells(study=study, filters=filters),
        participants=participant_counts_by_arm(study=study, filters=filters),
        mentions=mention_rows(study=study, filters=filters),
        transcripts_pending=conversations_to_score(study=study)
        .filter(humans_q("task__participant__", include_pilot=filters.include_pilot))
        .count(),
        generated_at=timezone.now().isoformat(timespec="seconds"),
        condition_labels=study.condition_labels,
        languages=language_cells(
            study=study, filters=filters, languages=study_languages_to_split(study=study)
        ),
    )


@dataclass(frozen=True)
class TaskRow:
    task_id: int
    participant_id: int
    arm: ArmView | None
    scenario: str
    position: int
    disposition: str
    gold_disposition: str
    distance: int
    conditions_correct: bool | None
    model_named: bool | None
    n_messages: int | None


@dataclass(frozen=True)
class TaskPage:
    rows: list[TaskRow]
    page: int
    pages: int
    total: int

    @property
    def previous(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


def task_page(
    *,
    study: Study,
    filters: AnswerFilters,
    arms: Sequence[ArmView],
    page: int = 1,
    per_page: int = 25,
) -> TaskPage:
    """Answered tasks under the filters, latest answer first, one page (three queries)."""
    answers = Answer.objects.filter(
        participant_q(filters, prefix="task__participant__"),
        task__participant__study=study,
        task__participant__arm__isnull=False,
    )
    total = answers.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    # The page's ids first, through the few joins the filters need; then only those rows
    # get the wide joins (scenario, levels, chat score). One query doing both made
    # PostgreSQL join every answer of the study before sorting (~100 ms at 20,000).
    ids = list(answers.order_by("-pk").values_list("pk", flat=True)[start : start + per_page])
    rows = (
        Answer.objects.filter(pk__in=ids)
        .order_by("-pk")
        .annotate(score=condition_score(study))
        .values_list(
            "task_id",
            "task__participant_id",
            "task__participant__arm_id",
            "task__scenario__key",
            "task__scenario__version",
            "task__position",
            "disposition__label",
            "disposition__value",
            "task__scenario__gold_disposition__label",
            "task__scenario__gold_disposition__value",
            "score",
            "task__conversation__analysis_score__model_named_any",
            "task__conversation__analysis_score__n_messages",
        )
    )
    by_id = {arm.id: arm for arm in arms}
    return TaskPage(
        rows=[
            TaskRow(
                task_id=task_id,
                participant_id=participant_id,
                arm=by_id.get(arm_id),
                scenario=key if version == 1 else f"{key} v{version}",
                position=position,
                disposition=label,
                gold_disposition=gold_label,
                distance=value - gold_value,
                conditions_correct=correct,
                model_named=model_named,
                n_messages=n_messages,
            )
            for (
                task_id,
                participant_id,
                arm_id,
                key,
                version,
                position,
                label,
                value,
                gold_label,
                gold_value,
                correct,
                model_named,
                n_messages,
            ) in rows
        ],
        page=page,
        pages=pages,
        total=total,
    )


@dataclass(frozen=True)
class TranscriptTurn:
    sequence: int
    role: str
    text: str
    status: str
    created_at: datetime
    # Gold conditions this message names.
    matched: tuple[str, ...]


@dataclass(frozen=True)
class Transcript:
    task: Task
    arm: ArmView | None
    scenario: Scenario
    answer: Answer | None
    conversation: Conversation | None
    turns: list[TranscriptTurn]
    model_named: tuple[str, ...]
    participant_named: tuple[str, ...]
    # The model named a gold condition that the answer left out (None: nothing to compare).
    answer_omitted_model_condition: bool | None


def transcript(*, study: Study, task_id: int, blinded: bool) -> Transcript | None:
    """One task with its scenario, chat (scored turn by turn) and answer; None if the task
    is not the study's. Four queries; the scoring is bounded by the arm's turn limit."""
    task = (
        Task.objects.filter(pk=task_id, participant__study=study)
        .select_related(
            "participant",
            "scenario",
            "scenario__gold_disposition",
            "answer",
            "answer__disposition",
            "conversation",
        )
        .first()
    )
    if task is None:
        return None
    arms = {arm.id: arm for arm in study_arm_views(study=study, blinded=blinded)}
    answer = getattr(task, "answer", None)
    conversation = getattr(task, "conversation", None)
    scenario = task.scenario
    messages = (
        list(
            Message.objects.filter(conversation=conversation)
            .in_order()
            .values_list("sequence", "role", "text", "status", "created_at")
        )
        if conversation is not None
        else []
    )
    score = score_transcript(
        [(role, text) for _seq, role, text, _status, _at in messages],
        scenario.gold_conditions,
        synonyms=scenario.condition_synonyms,
    )
    matched_at = {turn.index: turn.matched for turn in score.turns}
    omitted = None
    if answer is not None and conversation is not None and answer.scored_at is not None:
        omitted = model_named_but_answer_omitted(score, answer.matched_conditions)
    return Transcript(
        task=task,
        arm=arms.get(task.participant.arm_id),
        scenario=scenario,
        answer=answer,
        conversation=conversation,
        turns=[
            TranscriptTurn(
                sequence=seq,
                role=role,
                text=text,
                status=status,
                created_at=at,
                matched=matched_at.get(i, ()),
            )
            for i, (seq, role, text, status, at) in enumerate(messages)
        ],
        model_named=score.model_named,
        participant_named=score.participant_named,
        answer_omitted_model_condition=omitted,
    )
