"""Admin for evaluation results: view-only (results change only through their jobs)."""

from __future__ import annotations

from django.contrib import admin

from studyapp.core.admin import ReadOnlyAdminMixin
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
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
