from __future__ import annotations

from django.contrib import admin

from studyapp.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the trail is append-only (model, and a trigger on PostgreSQL)."""

    list_display = ("at", "chain", "seq", "actor_label", "action", "object_type", "object_id")
    list_filter = ("action", "object_type")
    search_fields = ("chain", "actor_label", "object_type", "object_id")
    ordering = ("-at", "-id")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    # Every study's chain is here: superusers only. A study's own people read theirs at
    # /studies/<slug>/audit/ (studies.roles.VIEW_AUDIT).
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
