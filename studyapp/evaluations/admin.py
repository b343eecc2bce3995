"""Admin for evaluation results: view-only (results change only through their jobs).
Model-alone prompt templates are the exception: a study's own are edited here too (the
model's clean refuses a missing or unknown placeholder), as on the evaluations page.

A run can be deleted, single or in bulk, by users with the delete permission (superusers):
always through ``evaluation_delete``, which takes its simulated participants with it and
refuses a run that is still going.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from studyapp.core.admin import ReadOnlyAdminMixin
from studyapp.evaluations.kinds import get_kind
from studyapp.evaluations.models import EvaluationItem, EvaluationRun, ModelAlonePrompt
from studyapp.evaluations.services import evaluation_delete
from studyapp.studies.admin import StudyScopedAdminMixin


@admin.register(EvaluationRun)
class EvaluationRunAdmin(StudyScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "key",
        "study",
        "kind",
        "model_label",
        "status",
        "items_done",
        "items_failed",
        "items_total",
        "created_at",
    ]
    list_filter = ["kind", "status", ("study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["study"]
    search_fields = ["key", "model_label", "source"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Not read-only here: deleting goes through evaluation_delete (delete_model,
        # delete_queryset), so the model's own delete permission decides.
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    def get_deleted_objects(self, objs, request: HttpRequest):
        """The confirmation page: each run with its items and simulated participants (what
        evaluation_delete removes); a run still going is listed as protected, so the page
        refuses it with the reason."""
        if isinstance(objs, QuerySet):
            objs = objs.select_related("study").annotate(n_items=Count("items"))
        runs = list(objs)
        summary, protected = [], []
        counts = {"runs": len(runs), "items": 0, "simulated participants": 0}
        for run in runs:
            n_items = getattr(run, "n_items", None)
            n_items = run.items.count() if n_items is None else n_items
            n_people = get_kind(run.kind).made_participants(run).distinct().count()
            counts["items"] += n_items
            counts["simulated participants"] += n_people
            summary.append(
                [
                    str(run),
                    [
                        f"{n_items} items",
                        f"{n_people} simulated participants, with their tasks, chats, "
                        "answers and events",
                    ],
                ]
            )
            if not run.is_finished:
                protected.append(f"{run}: still {run.status}; cancel it before deleting it")
        return summary, counts, set(), protected

    def delete_model(self, request: HttpRequest, obj: EvaluationRun) -> None:
        evaluation_delete(run_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            for run_id in queryset.values_list("pk", flat=True):
                evaluation_delete(run_id=run_id)


@admin.register(EvaluationItem)
class EvaluationItemAdmin(StudyScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    study_path = "run__study"
    list_display = [
        "item_key",
        "repetition",
        "turn",
        "run",
        "status",
        "disposition_outcome",
        "conditions_correct",
        "correct",
    ]
    list_filter = ["status", "conditions_correct", "correct", "run__kind"]
    list_select_related = ["run", "run__study"]
    search_fields = ["item_key"]
    # Runs hold thousands of items: a raw id widget instead of a select of all runs.
    raw_id_fields = ["run", "scenario"]


@admin.register(ModelAlonePrompt)
class ModelAlonePromptAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    list_display = ["key", "study", "label", "updated_at", "updated_by"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["study", "updated_by"]
    search_fields = ["key", "label"]
    fields = ["study", "key", "label", "preamble", "together", "disposition", "conditions"]

    def save_model(self, request: HttpRequest, obj: ModelAlonePrompt, form, change: bool) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
