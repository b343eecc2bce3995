"""The hash chain's pure functions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from studyapp.audit import chain as hashchain


def fields(seq: int, **changes) -> dict:
    values = {
        "chain": "study:1",
        "seq": seq,
        "study_id": 1,
        "actor_id": 7,
        "actor_label": "alice",
        "at": datetime(2026, 11, 28, 12, 0, seq, 123456, tzinfo=UTC),
        "action": "change",
        "object_type": "studies.arm",
        "object_id": "3",
        "object_repr": "audited/llm",
        "before": {"system_prompt": "Be brief."},
        "after": {"system_prompt": "Be thorough. Ünïcode ✓"},
        "detail": {},
    }
    values.update(changes)
    return values


def chained(n: int) -> list[dict]:
    entries, prev = [], hashchain.GENESIS
    for seq in range(1, n + 1):
        entry = fields(seq, id=100 + seq, prev_hash=prev)
        entry["hash"] = prev = hashchain.entry_hash(entry, prev)
        entries.append(entry)
    return entries


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_json():
    entry = fields(1)
    expected = hashlib.sha256(
        hashchain.GENESIS.encode() + b"\n" + hashchain.canonical(entry)
    ).hexdigest()
    assert hashchain.entry_hash(entry, hashchain.GENESIS) == expected
    text = hashchain.canonical(entry).decode()
    assert text.startswith('{"action":"change","actor_id":7,')  # sorted keys, no spaces
    assert '"at":"2026-11-28T12:00:01.123456Z"' in text


def test_the_canonical_form_ignores_key_order_and_the_time_zone_the_database_reads():
    entry = fields(1)
    reordered = dict(reversed(list(entry.items())))
    reordered["before"] = {"system_prompt": "Be brief."}
    berlin = entry["at"].astimezone(timezone(timedelta(hours=1)))
    reordered["at"] = berlin
    assert hashchain.canonical(reordered) == hashchain.canonical(entry)


@pytest.mark.parametrize("name", hashchain.HASHED_FIELDS)
def test_changing_any_hashed_field_changes_the_hash(name):
    entry = fields(1)
    changed = dict(entry)
    changed[name] = (
        entry[name] + timedelta(microseconds=1)
        if name == "at"
        else {"x": 1}
        if isinstance(entry[name], dict)
        else None
        if entry[name] not in (None, "")
        else "x"
    )
    assert hashchain.entry_hash(changed, "a" * 64) != hashchain.entry_hash(entry, "a" * 64)


def test_an_intact_chain_has_no_break():
    assert hashchain.first_broken(chained(5)) is None
    assert hashchain.first_broken([]) is None


def test_an_edited_entry_is_the_first_break():
    entries = chained(5)
    entries[2]["after"] = {"system_prompt": "Something else"}
    broken = hashchain.first_broken(entries)
    assert (broken.seq, broken.entry_id) == (3, 103)
    assert "hash" in broken.reason


def test_an_entry_rehashed_after_an_edit_breaks_the_next_link():
    entries = chained(5)
    entries[1]["actor_label"] = "mallory"
    entries[1]["hash"] = hashchain.entry_hash(entries[1], entries[1]["prev_hash"])
    broken = hashchain.first_broken(entries)
    assert broken.seq == 3 and "link" in broken.reason


def test_a_removed_entry_is_found_where_it_is_missing():
    entries = chained(5)
    del entries[1]
    broken = hashchain.first_broken(entries)
    assert broken.seq == 3 and "expected entry 2" in broken.reason


def test_json_safe_reads_as_a_json_field_does():
    value = {"at": datetime(2026, 1, 1, tzinfo=UTC), "n": 1.5, "ok": True}
    assert hashchain.json_safe(value) == {"at": "2026-01-01T00:00:00Z", "n": 1.5, "ok": True}
