"""The audit trail: an append-only, hash-chained log of who changed or looked at what.

One chain per study (`study:<id>`) and one global chain (`global`) for what belongs to no
study (model endpoints). Per study, because a study's trail is what its investigators
read, export and verify (`verify_audit <slug>`), and because appends to different studies
then never wait for one another; the global chain covers the rest.

The history of the studies app's configuration models is kept by django-simple-history
(its Historical* tables live in this app, registered below); each historical row also
feeds one chain entry with the changed fields before and after (audit.history).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history import register

from studyapp.studies.models import (
    AnalysisPlan,
    Arm,
    DispositionLevel,
    DispositionScale,
    ModelEndpoint,
    Scenario,
    ScenarioTranslation,
    Study,
    StudyTranslation,
)

GLOBAL_CHAIN = "global"


def chain_for(study_id: int | None) -> str:
    return f"study:{study_id}" if study_id is not None else GLOBAL_CHAIN


class AuditImmutableError(Exception):
    """Audit entries are never changed or deleted."""


class ChainHead(models.Model):
    """The end of one chain: its last sequence number and hash. Appending updates this
    row first, which takes its row lock (PostgreSQL) or the database's write lock
    (SQLite), so two appends to one chain run one after the other and never fork it."""

    chain = models.CharField(max_length=40, unique=True)
    seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.chain} at {self.seq}"


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def of_study(self, study) -> AuditEntryQuerySet:
        return self.filter(chain=chain_for(study.pk))


class AuditEntry(models.Model):
    """One entry. The study and actor are kept as ids without a database constraint (and
    the actor's username beside it), so deleting a study or a user never touches the
    trail: a cascade or SET_NULL would be an UPDATE or DELETE, which the trail refuses."""

    chain = models.CharField(max_length=40)
    seq = models.PositiveBigIntegerField()
    study = models.ForeignKey(
        "studies.Study",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    # None: the platform itself (a command, a task, a migration).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(default=timezone.now)
    # "create", "change", "delete" (configuration), "view", "export".
    action = models.CharField(max_length=20)
    # "studies.arm", "analysis.transcript", ...
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    # The changed fields' values before and after (configuration changes).
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    # What else says what happened (an export's table and format, blinded or not).
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [
            # A second guard against a fork: one entry per place in a chain.
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_entry_chain_seq")
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditImmutableError("audit entries are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutableError("audit entries are never deleted")


# The configuration whose every change is kept (django-simple-history), historical tables
# in this app so the studies app's models stay as they are. `updated_at` is left out: it
# changes on every save and says nothing the history's own date does not.
# A study's translations too (its texts', its scenarios'): what its participants read in
# their language.
for _model in (
    Study,
    Arm,
    ModelEndpoint,
    Scenario,
    DispositionScale,
    StudyTranslation,
    ScenarioTranslation,
):
    register(_model, app="studyapp.audit", excluded_fields=["updated_at"])
register(AnalysisPlan, app="studyapp.audit")
# Scales belong to no study: their changes go on the global chain (the builder's scale
# pages, studies.scales, make and change them).
register(DispositionLevel, app="studyapp.audit")
