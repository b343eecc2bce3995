from __future__ import annotations

from django.apps import AppConfig


class QuestionnairesConfig(AppConfig):
    name = "studyapp.questionnaires"
    label = "questionnaires"
    verbose_name = "Questionnaires"
