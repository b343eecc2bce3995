"""From a django-simple-history row to a chain entry: which fields changed, before and
after. simple-history keeps each version whole; the chain keeps what changed, with who,
so that the trail reads as a list of changes and each one is covered by the hashes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
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
    """The study a configuration object belongs to: the study itself, or its `study`."""
    if instance._meta.label_lower == "studies.study":
        return instance.pk
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
    """post_create_historical_record: append the change to its study's chain."""
    before, after = change_of(history_instance)
    if before is None and after is None:
        return
    services.record(
        study=_study_id(instance),
        actor=history_user,
        action=ACTIONS[history_instance.history_type],
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


def _usernames(user_ids) -> list[str]:
    User = get_user_model()
    return sorted(User.objects.filter(pk__in=user_ids).values_list(User.USERNAME_FIELD, flat=True))


def _investigators_record(study_id: int, before: set[int], after: set[int]) -> None:
    if before == after:
        return
    services.record(
        study=study_id,
        actor=_request_user(),
        action="change",
        object_type="studies.study",
        object_id=study_id,
        before={"investigators": _usernames(before)},
        after={"investigators": _usernames(after)},
    )


def _memberships(through, study_ids) -> dict[int, set[int]]:
    members: dict[int, set[int]] = {study_id: set() for study_id in study_ids}
    rows = through.objects.filter(study_id__in=members).values_list("study_id", "user_id")
    for study_id, user_id in rows:
        members[study_id].add(user_id)
    return members


def record_investigators_change(sender, instance, action, reverse, pk_set, **kwargs):
    """m2m_changed on Study.investigators, from either side: who may see and edit a
    study (today's roles) is configuration too. simple-history's m2m history would
    snapshot every investigator on every save of a study; this records only a change,
    comparing the members before (pre_*) and after (post_*)."""
    if action.startswith("pre_"):
        if action == "pre_clear":
            pk_set = instance.studies.values_list("pk", flat=True) if reverse else [instance.pk]
        study_ids = set(pk_set or ()) if reverse else {instance.pk}
        instance._audit_before = _memberships(sender, study_ids)
        return
    before_all = getattr(instance, "_audit_before", {})
    after_all = _memberships(sender, before_all)
    for study_id in sorted(before_all):
        _investigators_record(study_id, before_all[study_id], after_all[study_id])
