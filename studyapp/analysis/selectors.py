"""Bulk reads for the investigator pages and the study report.

Each function issues a fixed number of queries, whatever the number of participants:
counts are aggregated in SQL, and answers come back as plain rows in one query.
"""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from studyapp.analysis.metrics import (
    AnswerRow,
    ArmReport,
    StudyReport,
    answer_figures,
    answer_figures_by_arm,
    status_counts,
)
from studyapp.participation.models import Answer, Participant
from studyapp.studies.models import Arm, Study


def _count_subquery(queryset: QuerySet, outer_field: str = "pk") -> Coalesce:
    counts = (
        queryset.filter(study=OuterRef(outer_field))
        .order_by()
        .values("study")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def study_list_for_user(*, user) -> QuerySet[Study]:
    """The studies `user` may see, each with arm, participant and answer counts."""
    answers = (
        Answer.objects.filter(task__participant__study=OuterRef("pk"))
        .order_by()
        .values("task__participant__study")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Study.objects.visible_to(user)
        .annotate(
            n_arms=_count_subquery(Arm.objects.all()),
            n_participants=_count_subquery(Participant.objects.all()),
            n_completed=_count_subquery(
                Participant.objects.filter(status=Participant.Status.COMPLETED)
            ),
            n_answers=Coalesce(Subquery(answers, output_field=IntegerField()), Value(0)),
        )
        .order_by("-created_at")
    )


def answer_rows_for_study(*, study: Study) -> list[AnswerRow]:
    rows = (
        Answer.objects.filter(task__participant__study=study)
        .order_by("pk")
        .values_list(
            "task__participant__arm_id",
            "disposition__value",
            "task__scenario__gold_disposition__value",
            "conditions_text",
            "task__scenario__gold_conditions",
        )
    )
    return [
        AnswerRow(
            arm_id=arm_id,
            answer_value=answer_value,
            gold_value=gold_value,
            conditions_text=conditions_text,
            gold_conditions=gold_conditions or [],
        )
        for arm_id, answer_value, gold_value, conditions_text, gold_conditions in rows
    ]


def participant_counts_for_study(*, study: Study) -> dict[int | None, dict[str, int]]:
    """{arm id (None = not allocated): {status: n}} in one aggregate query."""
    counts: dict[int | None, dict[str, int]] = {}
    rows = (
        Participant.objects.filter(study=study)
        .order_by()
        .values_list("arm_id", "status")
        .annotate(n=Count("pk"))
    )
    for arm_id, status, n in rows:
        counts.setdefault(arm_id, {})[status] = n
    return counts


def study_report(*, study: Study) -> StudyReport:
    """Per-arm participants and answer figures: the page and `study_report` share it."""
    statuses = [str(value) for value in Participant.Status.values]
    arms = list(Arm.objects.filter(study=study).select_related("endpoint").order_by("key"))
    counts = participant_counts_for_study(study=study)
    figures = answer_figures_by_arm(answer_rows_for_study(study=study))
    empty = answer_figures([])
    return StudyReport(
        slug=study.slug,
        title=study.title,
        generated_at=timezone.now().isoformat(),
        statuses=[(value, value.replace("_", " ")) for value in statuses],
        arms=[
            ArmReport(
                id=arm.pk,
                key=arm.key,
                kind=arm.kind,
                label=arm.participant_label,
                endpoint=arm.endpoint.name if arm.endpoint else None,
                model=arm.endpoint.model if arm.endpoint else None,
                is_scripted=bool(arm.endpoint and arm.endpoint.is_scripted),
                participants=status_counts(counts.get(arm.pk, {}), statuses),
                figures=figures.get(arm.pk, empty),
            )
            for arm in arms
        ],
        unallocated=status_counts(counts.get(None, {}), statuses),
    )
