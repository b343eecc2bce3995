"""Admin for ratings: raters are edited on the study's rating page or here; rounds,
items, labels and adjudications are shown, never edited (labels are append-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from studyapp.ratings.models import (
    Adjudication,
    Label,
    RatingItem,
    RatingRound,
    ReferenceLabel,
    StudyRater,
)
from studyapp.studies.admin import StudyScopedAdminMixin


@admin.register(StudyRater)
class StudyRaterAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "user", "study", "can_rate", "can_adjudicate", "is_active"]
    list_filter = ["can_rate", "can_adjudicate", "is_active"]
    list_select_related = ["user", "study"]
    readonly_fields = ["code", "added_by"]
    raw_id_fields = ["user"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Labels point at the role; deactivate it instead.
        return False


class _ReadOnlyAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(RatingRound)
class RatingRoundAdmin(_ReadOnlyAdmin):
    list_display = ["name", "study", "double_share", "raters_per_double", "seed", "created_at"]
    list_select_related = ["study"]


@admin.register(RatingItem)
class RatingItemAdmin(_ReadOnlyAdmin):
    study_path = "round__study"
    list_display = ["pk", "round", "kind", "scenario", "is_double"]
    list_filter = ["kind", "is_double"]
    list_select_related = ["round__study", "scenario"]


@admin.register(Label)
class LabelAdmin(_ReadOnlyAdmin):
    study_path = "item__round__study"
    list_display = ["pk", "item", "rater", "created_at"]
    list_select_related = ["item", "rater__study"]


@admin.register(Adjudication)
class AdjudicationAdmin(_ReadOnlyAdmin):
    study_path = "item__round__study"
    list_display = ["pk", "item", "adjudicator", "created_at"]
    list_select_related = ["item", "adjudicator__study"]


@admin.register(ReferenceLabel)
class ReferenceLabelAdmin(_ReadOnlyAdmin):
    study_path = "item__round__study"
    list_display = ["answer", "item", "source", "conditions_correct", "updated_at"]
    list_filter = ["source", "conditions_correct"]
    list_select_related = ["answer", "item"]
