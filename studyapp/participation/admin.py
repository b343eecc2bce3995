"""Admin for participant data: view-only for everyone; tokens are never shown."""

from __future__ import annotations

from django.contrib import admin

from studyapp.core.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline
from studyapp.participation.models import Answer, Participant, Task
from studyapp.studies.admin import StudyScopedAdminMixin


class TaskInline(ReadOnlyTabularInline):
    model = Task
    fields = ["position", "scenario", "status", "started_at", "finished_at"]
    readonly_fields = fields


@admin.register(Participant)
class ParticipantAdmin(StudyScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # The token is the participant's credential: whoever sees it can act as them.
    exclude = ["token"]
    list_display = ["id", "study", "arm", "status", "prolific_pid", "created_at", "completed_at"]
    list_filter = [
        "status",
        ("study", admin.RelatedOnlyFieldListFilter),
        ("arm", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["study", "arm", "arm__study"]
    search_fields = ["prolific_pid", "prolific_session_id"]
    date_hierarchy = "created_at"
    inlines = [TaskInline]


@admin.register(Task)
class TaskAdmin(StudyScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    study_path = "participant__study"
    list_display = ["id", "participant", "position", "scenario", "status", "finished_at"]
    list_filter = ["status", ("scenario", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["participant", "scenario"]


@admin.register(Answer)
class AnswerAdmin(StudyScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    study_path = "task__participant__study"
    list_display = ["id", "task", "disposition", "confidence", "created_at"]
    list_filter = [("task__participant__study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["task", "disposition"]
