from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import m2m_changed


class AuditConfig(AppConfig):
    name = "studyapp.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # Each historical row of the studies' configuration (django-simple-history) feeds
        # one entry of the hash chain.
        from simple_history.signals import post_create_historical_record

        from studyapp.audit import history
        from studyapp.studies.models import Study

        post_create_historical_record.connect(
            history.record_historical_change, dispatch_uid="audit-historical-change"
        )
        m2m_changed.connect(
            history.record_investigators_change,
            sender=Study.investigators.through,
            dispatch_uid="audit-investigators-change",
        )
