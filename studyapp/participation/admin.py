"""Admin for participant data: view-only for everyone; tokens are never shown."""

from __future__ import annotations

from django.contrib import admin

from studyapp.core.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline
from studyapp.participation.models import Allocation, Answer, Participant, ParticipantEvent, Task
from studyapp.studies.admin import StudyScopedAdminMixin


class TaskInline(ReadOnlyTabularInline):
    model = Task
    fields = ["position", "scenario", "status", "started_at", "finished_at"]
    readonly_fields = fields


@admin.register(Participant)
class ParticipantAdmin(StudyScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # The link id is half of the participant's credential (participation.tokens).
    exclude = ["link_id"]
    list_display = [
        "id",
        "study",
        "arm",
        "status",
        "is_simulated",
        "prolific_pid",
        "created_at",
        "completed_at",
    ]
    list_filter = [
        "status",
        "is_simulated",
        ("study", admin.RelatedOnlyFieldListFilter),
        ("arm", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["study", "arm", "arm__study"]
    search_fields = ["prolific_pid", "prolific_session_id"]
    date_hierarchy = "created_at"
    inlines = [TaskInline]


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger: past allocations only (future ones exist nowhere).

    Superusers only, in the role of the trial statistician: an investigator who saw block
    numbers and positions while the study runs could guess the last arms of a block.
    """

    list_display = [
        "sequence",
        "study",
        "stratum",
        "stratum_sequence",
        "block",
        "block_position",
        "block_size",
        "arm",
        "outcome",
        "participant",
        "created_at",
    ]
    list_filter = ["outcome", ("study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["study", "arm", "participant"]
    ordering = ["study", "sequence"]

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)


@admin.register(ParticipantEvent)
class ParticipantEventAdmin(StudyScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "study", "participant", "kind", "from_status", "to_status", "reason"]
    list_filter = ["kind", ("study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["study", "participant"]
    exclude = ["pid_digest"]
    date_hierarchy = "at"


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
