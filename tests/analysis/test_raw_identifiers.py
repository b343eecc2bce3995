"""Raw Prolific ids leave only by an investigator's recorded choice, and each time is
recorded (analysis.identifiers, views_identifiers, export_study --raw-identifiers)."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from studyapp.analysis.identifiers import RELEASE_VALID_FOR
from studyapp.analysis.models import (
    AuditRecordImmutableError,
    RawIdentifierDownload,
    RawIdentifierRelease,
)
from tests.analysis.scored import PIDS, SESSIONS
from tests.conftest import require
from tests.factories import make_member, make_user

REASON = "Paying the bonuses of the first batch"


@pytest.fixture
def charlie(prolific):
    """A second investigator of the study."""
    user = make_user("charlie")
    make_member(prolific.study, user)
    return user


def release_url() -> str:
    return reverse("analysis:raw_identifiers", args=["beta"])


def raw_download(client, table: str = "participants", fmt: str = "csv", **params):
    url = reverse("analysis:export_table", args=["beta", table, fmt])
    return client.get(url, {"identifiers": "raw", **params})


def body_of(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_a_raw_download_is_refused_without_a_recorded_reason(client, alice, prolific):
    client.force_login(alice)
    response = raw_download(client)
    assert response.status_code == 403
    assert not RawIdentifierDownload.objects.exists()


def test_an_investigator_records_a_reason_then_downloads_raw_ids(client, alice, prolific, caplog):
    client.force_login(alice)
    page = client.get(reverse("analysis:dashboard", args=["beta"]))
    assert f'action="{release_url()}"' in page.content.decode()
    response = client.post(release_url(), {"reason": REASON})
    assert response.status_code == 302
    release = RawIdentifierRelease.objects.get()
    assert (release.study, release.user, release.reason) == (prolific.study, alice, REASON)

    with caplog.at_level(logging.INFO, logger="studyapp.analysis.identifiers"):
        response = raw_download(client)
    assert response.status_code == 200
    assert (
        response["Content-Disposition"] == 'attachment; filename="beta-participants-raw-ids.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(body_of(response))))
    assert [r["prolific_pid"] for r in rows] == [*PIDS, ""]
    assert [r["prolific_session_id"] for r in rows] == [*SESSIONS, ""]
    assert all(r["prolific_pid_pseudonym"] for r in rows[:4])
    download = RawIdentifierDownload.objects.get()
    assert (download.release, download.what) == (release, "participants.csv")
    # Logged: who and what, never a PID.
    assert f"user {alice.pk}" in caplog.text and "participants.csv" in caplog.text
    for pid in PIDS:
        assert pid not in caplog.text

    page = client.get(release_url()).content.decode()
    assert REASON in page and "participants.csv" in page
    assert "?identifiers=raw" in page


def test_raw_ids_are_never_exported_blinded(client, alice, prolific):
    client.force_login(alice)
    client.post(release_url(), {"reason": REASON})
    assert raw_download(client, blinded="1").status_code == 403
    url = reverse("analysis:export_dictionary", args=["beta", "json"])
    assert client.get(url, {"identifiers": "raw", "blinded": "1"}).status_code == 403
    assert not RawIdentifierDownload.objects.exists()
    # The blinded dashboard offers no release.
    page = client.get(reverse("analysis:dashboard", args=["beta"]), {"blinded": "1"})
    assert release_url() not in page.content.decode()


def test_a_release_needs_a_reason(client, alice, prolific):
    client.force_login(alice)
    for reason in ("", "   ", "because"):
        response = client.post(release_url(), {"reason": reason})
        assert response.status_code == 400
    assert not RawIdentifierRelease.objects.exists()


def test_only_the_studys_investigators_release_raw_ids(client, bob, prolific):
    client.force_login(bob)
    assert client.post(release_url(), {"reason": REASON}).status_code == 404
    root = make_user("root", superuser=True)  # sees every study, investigates none
    client.force_login(root)
    assert client.get(release_url()).status_code == 200
    assert client.post(release_url(), {"reason": REASON}).status_code == 403
    assert raw_download(client).status_code == 403
    assert not RawIdentifierRelease.objects.exists()


def test_a_release_is_its_investigators_alone_and_expires(client, alice, charlie, prolific):
    client.force_login(alice)
    client.post(release_url(), {"reason": REASON})
    client.force_login(charlie)
    assert raw_download(client).status_code == 403
    RawIdentifierRelease.objects.create(
        study=prolific.study,
        user=charlie,
        reason=REASON,
        created_at=timezone.now() - RELEASE_VALID_FOR - timedelta(minutes=1),
    )
    assert raw_download(client).status_code == 403


def test_pseudonymous_downloads_need_no_release(client, alice, prolific):
    client.force_login(alice)
    for identifiers in ("", "pseudonymous", "RAW"):
        url = reverse("analysis:export_table", args=["beta", "participants", "csv"])
        response = client.get(url, {"identifiers": identifiers})
        assert response.status_code == 200
        body = body_of(response)
        assert PIDS[0] not in body and "prolific_pid_pseudonym" in body
    assert not RawIdentifierDownload.objects.exists()


def test_releases_and_downloads_are_append_only(alice, prolific):
    release = RawIdentifierRelease.objects.create(study=prolific.study, user=alice, reason=REASON)
    download = RawIdentifierDownload.objects.create(release=release, what="participants.csv")
    for record in (release, download):
        with pytest.raises(AuditRecordImmutableError):
            record.save()
        with pytest.raises(AuditRecordImmutableError):
            record.delete()


def test_the_database_refuses_to_change_the_record(alice, prolific):
    require(connection.vendor == "postgresql", "the append-only trigger needs PostgreSQL")
    from django.db import DatabaseError

    release = RawIdentifierRelease.objects.create(study=prolific.study, user=alice, reason=REASON)
    for statement in (
        "UPDATE analysis_rawidentifierrelease SET reason = 'x' WHERE id = %s",
        "DELETE FROM analysis_rawidentifierrelease WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [release.pk])


# --- export_study --raw-identifiers ---------------------------------------------------


def run_export(tmp_path, *extra: str) -> str:
    out = StringIO()
    call_command(
        "export_study", "beta", "--out", str(tmp_path), "--tables", "participants", *extra,
        stdout=out,
    )  # fmt: skip
    return out.getvalue()


def test_the_command_exports_raw_ids_with_a_recorded_reason(tmp_path, alice, prolific):
    output = run_export(tmp_path, "--raw-identifiers", "--user", "alice", "--reason", REASON)
    assert "raw identifiers released to alice and recorded" in output
    rows = list(csv.DictReader((tmp_path / "participants.csv").open(newline="")))
    assert [r["prolific_pid"] for r in rows] == [*PIDS, ""]
    dictionary = json.loads((tmp_path / "data_dictionary.json").read_text())
    assert dictionary["identifiers"] == "raw"
    release = RawIdentifierRelease.objects.get()
    assert (release.user, release.reason) == (alice, REASON)
    assert release.downloads.get().what == "export_study participants (csv)"
    for pid in PIDS:
        assert pid not in output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--raw-identifiers", "--user", "alice"], "--reason"),
        (["--raw-identifiers", "--reason", REASON], "--user"),
        (["--raw-identifiers", "--user", "alice", "--reason", "short"], "Invalid reason"),
        (["--raw-identifiers", "--user", "bob", "--reason", REASON], "owners, collaborators"),
        (["--raw-identifiers", "--user", "nobody", "--reason", REASON], "No user"),
        (["--raw-identifiers", "--user", "alice", "--reason", REASON, "--blinded"], "blinded"),
        (["--reason", REASON], "go with --raw-identifiers"),
    ],
)
def test_the_command_refuses_raw_ids_without_a_recorded_choice(
    tmp_path, alice, bob, prolific, extra, message
):
    with pytest.raises(CommandError, match=message):
        run_export(tmp_path, *extra)
    assert not RawIdentifierRelease.objects.exists()
    assert not (tmp_path / "participants.csv").exists()
