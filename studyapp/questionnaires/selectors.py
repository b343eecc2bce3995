"""Reads for questionnaires: a study's instruments, a participant's answered ones, and
the per-arm figures of the dashboard."""

from __future__ import annotations

from django.db.models import Avg, Count, Prefetch

from studyapp.participation.models import humans_q
from studyapp.questionnaires.models import Item, ItemAnswer, Placement, Questionnaire, Response

PLACEMENT_ORDER = [Placement.AFTER_CONSENT, Placement.AFTER_EACH_SCENARIO, Placement.END]


def _in_flow_order(questionnaires: list[Questionnaire]) -> list[Questionnaire]:
    rank = {p.value: i for i, p in enumerate(PLACEMENT_ORDER)}
    return sorted(questionnaires, key=lambda q: (rank[q.placement], q.position, q.pk))


def study_questionnaires(*, study_id: int) -> list[Questionnaire]:
    """The study's questionnaires in the order of the flow (one query, no items)."""
    return _in_flow_order(
        list(Questionnaire.objects.filter(study_id=study_id).only("pk", "placement", "position"))
    )


def study_questionnaires_with_items(*, study_id: int) -> list[Questionnaire]:
    """The study's questionnaires with their items (two queries), in flow order."""
    items = Item.objects.select_related("condition_item").order_by("position", "pk")
    return _in_flow_order(
        list(
            Questionnaire.objects.filter(study_id=study_id).prefetch_related(
                Prefetch("items", queryset=items)
            )
        )
    )


def questionnaire_items(*, questionnaire: Questionnaire) -> list[Item]:
    return list(questionnaire.items.select_related("condition_item").order_by("position", "pk"))


def participant_answered(*, participant_id: int) -> set[tuple[int, int | None]]:
    """(questionnaire id, task id or None) of every response this participant gave."""
    return set(
        Response.objects.filter(participant_id=participant_id).values_list(
            "questionnaire_id", "task_id"
        )
    )


def questionnaire_locked(*, questionnaire: Questionnaire) -> bool:
    """Answered by anyone: its items are frozen (see services.QuestionnaireLockedError)."""
    return Response.objects.filter(questionnaire=questionnaire).exists()


def study_locked_questionnaire_ids(*, study_id: int) -> set[int]:
    return set(
        Response.objects.filter(questionnaire__study_id=study_id)
        .order_by()
        .values_list("questionnaire_id", flat=True)
        .distinct()
    )


# --- The dashboard's per-arm summary ------------------------------------------------------


def study_answer_summary(*, study_id: int) -> dict:
    """Per item and arm, for people (not simulated patients): {item id: {arm id: {"n":
    answers, "mean": mean of Likert/number answers, "counts": {option value: n}}}}.

    Four queries whatever the number of participants: numbers (count, mean),
    free text (count), single choices (count per
    value), and multiple choices (their lists, counted here).
    """
    answers = ItemAnswer.objects.filter(
        humans_q("response__participant__"), response__questionnaire__study_id=study_id
    ).order_by()
    summary: dict[int, dict[int | None, dict]] = {}

    def cell(item_id: int, arm_id: int | None) -> dict:
        return summary.setdefault(item_id, {}).setdefault(
            arm_id, {"n": 0, "mean": None, "counts": {}}
        )

    numeric = (
        answers.filter(item__kind__in=["likert", "number"], number__isnull=False)
        .values_list("item_id", "response__participant__arm_id")
        .annotate(n=Count("pk"), mean=Avg("number"))
    )
    for item_id, arm_id, n, mean in numeric:
        entry = cell(item_id, arm_id)
        entry["n"], entry["mean"] = n, mean
    texts = (
        answers.filter(item__kind="text")
        .values_list("item_id", "response__participant__arm_id")
        .annotate(n=Count("pk"))
    )
    for item_id, arm_id, n in texts:
        cell(item_id, arm_id)["n"] = n
    single = (
        answers.filter(item__kind="single")
        .values_list("item_id", "response__participant__arm_id", "text")
        .annotate(n=Count("pk"))
    )
    for item_id, arm_id, text, n in single:
        entry = cell(item_id, arm_id)
        entry["n"] += n
        entry["counts"][text] = n
    multiple = answers.filter(item__kind="multiple").values_list(
        "item_id", "response__participant__arm_id", "choices"
    )
    for item_id, arm_id, choices in multiple:
        entry = cell(item_id, arm_id)
        entry["n"] += 1
        for value in choices or ():
            entry["counts"][value] = entry["counts"].get(value, 0) + 1
    return summary
