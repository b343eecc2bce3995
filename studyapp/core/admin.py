"""Admin building blocks shared by the apps."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Recorded data: viewable, never added, changed or deleted through the admin.

    Participant data is evidence; a correction must be a named service with an audit
    trail, not an edit form. This holds for superusers too.
    """

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


admin.site.site_header = "studyapp administration"
admin.site.site_title = "studyapp admin"
admin.site.index_title = "Studies, scenarios, arms and recorded data"
