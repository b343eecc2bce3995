"""verify_audit: an intact chain passes; an edited, inserted or removed row is found."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from studyapp.audit import services
from studyapp.audit.models import AuditEntry
from tests.audit.conftest import needs_postgresql

TRIGGER = "audit_auditentry_append_only"


def run_raw(sql: str, params: list) -> None:
    """Edit rows behind the model's back, as someone at a SQL prompt would; on PostgreSQL
    with the append-only trigger disabled for the statement (inside the test's
    transaction, so it is back on afterwards)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE audit_auditentry DISABLE TRIGGER {TRIGGER}")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE audit_auditentry ENABLE TRIGGER {TRIGGER}")


def verify(capsys, *args) -> tuple[int, str]:
    try:
        call_command("verify_audit", *args)
    except SystemExit as exit_:
        code = exit_.code
    else:
        code = 0
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def trail(study, alice):
    return [
        services.record(study=study, actor=alice, action="view", object_type="t", object_id=i)
        for i in range(5)
    ]


def test_an_intact_chain_passes(capsys, study, trail):
    code, out = verify(capsys, study.slug)
    count = AuditEntry.objects.of_study(study).count()
    assert code == 0
    assert f"study:{study.pk}: {count} entries, the chain is intact" in out


def test_an_edited_row_is_found(capsys, study, trail):
    target = trail[2]
    run_raw("UPDATE audit_auditentry SET actor_label = %s WHERE id = %s", ["bob", target.pk])
    assert AuditEntry.objects.get(pk=target.pk).actor_label == "bob"
    code, out = verify(capsys, study.slug)
    assert code == 1
    assert f"broken at entry {target.seq} (id {target.pk}): its fields do not match" in out


def test_an_edited_json_value_is_found(capsys, study, trail):
    target = trail[1]
    run_raw("UPDATE audit_auditentry SET detail = %s WHERE id = %s", ['{"x": 1}', target.pk])
    code, out = verify(capsys, study.slug)
    assert code == 1 and f"broken at entry {target.seq}" in out


def test_a_deleted_row_in_the_middle_is_found(capsys, study, trail):
    run_raw("DELETE FROM audit_auditentry WHERE id = %s", [trail[1].pk])
    code, out = verify(capsys, study.slug)
    assert code == 1 and f"broken at entry {trail[2].seq}" in out


def test_a_deleted_last_row_is_found_by_the_chain_s_head(capsys, study, trail):
    run_raw("DELETE FROM audit_auditentry WHERE id = %s", [trail[-1].pk])
    code, out = verify(capsys, study.slug)
    assert code == 1 and "the chain's head says" in out


def test_the_global_chain_and_the_arguments(capsys, db):
    services.record(action="view", object_type="t")
    assert verify(capsys, "--global")[0] == 0
    with pytest.raises(CommandError):
        call_command("verify_audit")
    with pytest.raises(CommandError, match="No study"):
        call_command("verify_audit", "nope")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditentry SET actor_label = 'bob' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ],
)
def test_postgresql_refuses_an_update_or_delete_from_a_sql_prompt(trail, sql):
    needs_postgresql()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [trail[0].pk])
