"""Appending to the audit trail: the only writer of AuditEntry and ChainHead."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from studyapp.audit import chain as hashchain
from studyapp.audit.models import AuditEntry, ChainHead, chain_for

# Raw SQL for the head: `UPDATE ... RETURNING` takes the row's lock and reads the values
# it holds after any append that committed while this one waited (PostgreSQL re-reads the
# locked row), in one round trip. SQLite (3.35+) has RETURNING too and serialises writers.
_ADVANCE = "UPDATE audit_chainhead SET seq = seq + 1 WHERE chain = %s RETURNING seq, last_hash"


def _head_advance(chain: str) -> tuple[int, str]:
    """Lock the chain's head and move it on by one: (the new entry's seq, the previous
    hash). The head row is created on a chain's first entry."""
    for _ in range(2):
        with connection.cursor() as cursor:
            cursor.execute(_ADVANCE, [chain])
            row = cursor.fetchone()
        if row is not None:
            return int(row[0]), row[1]
        try:
            with transaction.atomic():
                ChainHead.objects.create(chain=chain, seq=0, last_hash=hashchain.GENESIS)
        except IntegrityError:
            pass  # another process created it first: advance that one
    raise RuntimeError(f"audit chain head {chain!r} could not be created")


OBJECT_ID_MAX = AuditEntry._meta.get_field("object_id").max_length


def record(
    *,
    study=None,
    actor=None,
    action: str,
    object_type: str,
    object_id: Any = "",
    object_repr: str = "",
    before: dict | None = None,
    after: dict | None = None,
    detail: dict | None = None,
) -> AuditEntry:
    """Append one entry to the study's chain (the global chain without a study).

    Runs in the caller's transaction when there is one, so an entry is kept exactly when
    what it records is (a rolled-back change leaves none); an error here fails the
    caller rather than leaving something unrecorded.
    """
    study_id = study if isinstance(study, int) or study is None else study.pk
    actor = actor if actor is not None and actor.is_authenticated else None
    # Checked here, not left to the database: SQLite would store a longer one, and
    # PostgreSQL refuse it (and with it the export or view being recorded).
    if len(str(object_id)) > OBJECT_ID_MAX:
        raise ValueError(f"object_id longer than {OBJECT_ID_MAX} characters: put it in detail")
    fields: dict[str, Any] = {
        "chain": chain_for(study_id),
        "study_id": study_id,
        "actor_id": actor.pk if actor else None,
        "actor_label": actor.get_username() if actor else "",
        "at": timezone.now(),
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "object_repr": str(object_repr)[:200],
        "before": hashchain.json_safe(before),
        "after": hashchain.json_safe(after),
        "detail": hashchain.json_safe(detail or {}),
    }
    with transaction.atomic(savepoint=False):
        seq, prev_hash = _head_advance(fields["chain"])
        fields["seq"] = seq
        digest = hashchain.entry_hash(fields, prev_hash)
        entry = AuditEntry.objects.create(**fields, prev_hash=prev_hash, hash=digest)
        ChainHead.objects.filter(chain=fields["chain"]).update(last_hash=digest)
    return entry
