from __future__ import annotations

from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "studyapp.evaluations"
    label = "evaluations"
    verbose_name = "Evaluations"
