from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "studyapp.chat"
    label = "chat"
