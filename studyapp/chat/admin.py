"""Admin for conversations: transcripts are evidence, so they are view-only."""

from __future__ import annotations

from django.contrib import admin

from studyapp.chat.models import Conversation, Message
from studyapp.core.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline
from studyapp.studies.admin import StudyScopedAdminMixin


class MessageInline(ReadOnlyTabularInline):
    model = Message
    fields = ["sequence", "role", "status", "text", "time_to_first_token_ms", "duration_ms"]
    readonly_fields = fields
    ordering = ["sequence"]


@admin.register(Conversation)
class ConversationAdmin(StudyScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    study_path = "task__participant__study"
    list_display = ["id", "task", "arm", "model", "is_scripted", "created_at"]
    list_filter = [("arm", admin.RelatedOnlyFieldListFilter), "is_scripted"]
    list_select_related = ["task", "arm", "arm__study"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(StudyScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    study_path = "conversation__task__participant__study"
    list_display = ["id", "conversation", "sequence", "role", "status", "created_at"]
    list_filter = ["role", "status"]
    list_select_related = ["conversation", "conversation__task"]
