from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_save


class AuditConfig(AppConfig):
    name = "studyapp.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # Each historical row of the studies' configuration (django-simple-history) feeds
        # one entry of the hash chain.
        from simple_history.signals import post_create_historical_record

        from studyapp.audit import history
        from studyapp.studies.models import StudyMembership

        post_create_historical_record.connect(
            history.record_historical_change, dispatch_uid="audit-historical-change"
        )
        # Roles in a study (studies.members writes them; the admin may too): each grant,
        # change and revocation is an entry of the study's chain.
        pre_save.connect(
            history.membership_before_save,
            sender=StudyMembership,
            dispatch_uid="audit-membership-before",
        )
        post_save.connect(
            history.record_membership_saved,
            sender=StudyMembership,
            dispatch_uid="audit-membership-saved",
        )
        post_delete.connect(
            history.record_membership_deleted,
            sender=StudyMembership,
            dispatch_uid="audit-membership-deleted",
        )
