"""From a django-simple-history row to a chain entry: which fields changed, before and
after. simple-history keeps each version whole; the chain keeps what changed, with who,
so that the trail reads as a list of changes and each one is covered by the hashes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from simple_history.models import HistoricalRecords

from studyapp.audit import chain as hashchain
from studyapp.audit import services

ACTIONS = {"+": "create", "~": "change", "-": "delete"}


def _values(record) -> dict[str, Any]:
    return hashchain.json_safe(
        {f.attname: getattr(record, f.attname) for f in record.tracked_fields}
    )


def _study_id(instance) -> int | None:
    """The study a configuration object belongs to: the study itself, its `study`, or its
    scenario's (a scenario's translation)."""
    if instance._meta.label_lower == "studies.study":
        return instance.pk
    if instance._meta.label_lower == "studies.scenariotranslation":
        try:
            return instance.scenario.study_id
        except ObjectDoesNotExist:  # deleted with its scenario
            return None
    return getattr(instance, "study_id", None)


def change_of(record) -> tuple[dict | None, dict | None]:
    """(before, after) of a historical row: the changed fields only for a change, every
    field for a creation (after) or a deletion (before); (None, None) when nothing
    changed (a save that wrote the same values)."""
    current = _values(record)
    if record.history_type == "+":
        return None, current
    if record.history_type == "-":
        return current, None
    previous = record.prev_record
    if previous is None:  # history began after the object was created
        return None, current
    old = _values(previous)
    changed = sorted(name for name in current if current[name] != old.get(name))
    if not changed:
        return None, None
    return {n: old.get(n) for n in changed}, {n: current[n] for n in changed}


def _repr(instance) -> str:
    # Some __str__ follow a relation (an arm names its study's slug), which may already
    # be gone when a study's deletion takes its arms with it.
    try:
        return str(instance)
    except ObjectDoesNotExist:
        return f"{instance._meta.label_lower} {instance.pk}"


def record_historical_change(sender, instance, history_instance, history_user, **kwargs):
    """post_create_historical_record: append the change to its study's chain. Its verb
    is the history's (create, change, delete) unless the service that saved it named
    one (studies.history.config_save: pause, launch), taken once."""
    action = instance.__dict__.pop("_audit_action", None)
    before, after = change_of(history_instance)
    if before is None and after is None:
        return
    services.record(
        study=_study_id(instance),
        actor=history_user,
        action=action or ACTIONS[history_instance.history_type],
        object_type=instance._meta.label_lower,
        object_id=instance.pk,
        object_repr=_repr(instance),
        before=before,
        after=after,
        detail={"history_id": history_instance.history_id},
    )


def _request_user():
    """The user of the request being served (django-simple-history's middleware keeps
    it), or None outside a request."""
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _membership_actor(instance):
    # The service names who granted or revoked (studies.members); an admin form or a
    # shell save falls back to the request's user, if any.
    return getattr(instance, "_audit_actor", None) or _request_user()


def _membership_value(instance, role: str | None) -> dict | None:
    if role is None:
        return None
    return {"member": instance.user.get_username(), "role": role}


def membership_before_save(sender, instance, raw=False, **kwargs):
    """pre_save on StudyMembership: the role it held (None: a new member)."""
    if raw:
        return
    instance._audit_role_before = (
        sender.objects.filter(pk=instance.pk).values_list("role", flat=True).first()
        if instance.pk
        else None
    )


def record_membership_saved(sender, instance, created, raw=False, **kwargs):
    """post_save on StudyMembership: a role granted or changed, on the study's chain.
    Who may see and change a study is configuration, as the investigators list was."""
    if raw:
        return
    before = None if created else getattr(instance, "_audit_role_before", None)
    if before == instance.role:
        return
    services.record(
        study=instance.study_id,
        actor=_membership_actor(instance),
        action="grant" if before is None else "change",
        object_type="studies.studymembership",
        object_id=instance.user_id,
        object_repr=instance.user.get_username(),
        before=_membership_value(instance, before),
        after=_membership_value(instance, instance.role),
    )


def record_membership_deleted(sender, instance, **kwargs):
    """post_delete on StudyMembership: a role revoked (or its study or user deleted)."""
    services.record(
        study=instance.study_id,
        actor=_membership_actor(instance),
        action="revoke",
        object_type="studies.studymembership",
        object_id=instance.user_id,
        object_repr=instance.user.get_username(),
        before=_membership_value(instance, instance.role),
        after=None,
    )
