"""The hash chain, as pure functions: no ORM, so verify_audit and the tests recompute
exactly what `services.record` wrote.

An entry's hash is SHA-256 over the canonical JSON of its fields (sorted keys, no
whitespace, UTF-8) together with the previous entry's hash. Changing any field of any
entry, deleting one or inserting one changes that entry's hash or breaks the next entry's
link, so `first_broken` finds the first entry that no longer fits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

# The first entry of a chain links to this.
GENESIS = "0" * 64

# The fields a hash covers, in the entry's own names (AuditEntry). Adding one is a new
# chain format: old entries would no longer verify.
HASHED_FIELDS = (
    "chain",
    "seq",
    "study_id",
    "actor_id",
    "actor_label",
    "at",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "detail",
)


def json_safe(value: Any) -> Any:
    """`value` as the JSON a JSONField stores and reads back (datetimes, decimals, UUIDs
    as strings), so the hash of what was written equals the hash of what is read."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def at_text(at: datetime) -> str:
    """A timestamp as hashed: UTC, microseconds, whatever the database's time zone."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The canonical serialisation of an entry's hashed fields."""
    values = {name: fields[name] for name in HASHED_FIELDS}
    values["at"] = at_text(values["at"])
    return json.dumps(
        values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def entry_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(fields))
    return digest.hexdigest()


@dataclass(frozen=True)
class Break:
    """The first entry that does not fit its chain, and why."""

    seq: int
    entry_id: int
    reason: str


def first_broken(entries: Iterable[Mapping[str, Any]]) -> Break | None:
    """Walk a chain's entries in order (each a mapping with HASHED_FIELDS plus `id`,
    `prev_hash` and `hash`); the first that does not fit, or None when all do."""
    prev = GENESIS
    expected_seq = 1
    for entry in entries:
        if entry["seq"] != expected_seq:
            return Break(entry["seq"], entry["id"], f"expected entry {expected_seq} here")
        if entry["prev_hash"] != prev:
            return Break(entry["seq"], entry["id"], "does not link to the entry before it")
        if entry_hash(entry, prev) != entry["hash"]:
            return Break(entry["seq"], entry["id"], "its fields do not match its hash")
        prev = entry["hash"]
        expected_seq += 1
    return None
