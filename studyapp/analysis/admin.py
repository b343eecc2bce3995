"""The record of raw identifier releases, read-only for everyone (it is an audit trail)."""

from __future__ import annotations

from django.contrib import admin

from studyapp.analysis.models import RawIdentifierDownload, RawIdentifierRelease
from studyapp.core.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline


class RawIdentifierDownloadInline(ReadOnlyTabularInline):
    model = RawIdentifierDownload
    fields = ["created_at", "what"]
    readonly_fields = fields
    show_change_link = False


@admin.register(RawIdentifierRelease)
class RawIdentifierReleaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "study", "user", "reason"]
    list_filter = ["study"]
    list_select_related = ["study", "user"]
    fields = ["study", "user", "reason", "created_at"]
    readonly_fields = fields
    inlines = [RawIdentifierDownloadInline]

    # Every study's releases: superusers only (a study's members see theirs on its page).
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)
