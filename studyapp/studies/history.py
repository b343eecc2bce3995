"""Writing configuration so that its history keeps the change.

django-simple-history records a change from a model's save() (its post_save signal); a
QuerySet.update() goes around it and leaves no trace. The services that must decide
under a row lock (a status, a quota, a plan's lock) read the row with
select_for_update() and write it with `config_save`, which saves only the fields named:
the same row lock and the same single UPDATE, now with a historical row and its entry on
the study's audit chain (audit.history), with who and the values before and after.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models


def config_save(
    instance: models.Model,
    *,
    fields: Iterable[str],
    by=None,
    action: str | None = None,
) -> None:
    """Save `fields` of `instance`, read under its row lock, so its history keeps the
    change. `by`: who made it (default: the request's user, through simple-history's
    middleware; none outside a request is the platform). `action`: the audit entry's
    verb where "change" says less (pause, launch)."""
    names = list(fields)
    if any(f.name == "updated_at" for f in instance._meta.concrete_fields):
        names.append("updated_at")  # auto_now: written only when named
    if by is not None:
        instance._history_user = by
    if action is not None:
        instance._audit_action = action
    instance.save(update_fields=names)
