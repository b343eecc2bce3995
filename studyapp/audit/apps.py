from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "studyapp.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # Each historical row of the studies' configuration (django-simple-history) feeds
        # one entry of the hash chain.
        from simple_history.signals import post_create_historical_record

        from studyapp.audit import history

        post_create_historical_record.connect(
            history.record_historical_change, dispatch_uid="audit-historical-change"
        )
