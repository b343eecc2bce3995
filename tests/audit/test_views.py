"""The audit trail's page and CSV, and what viewing and exporting participant data
records."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from studyapp.audit import services, views
from studyapp.audit.models import AuditEntry
from tests.audit.test_verify_audit import run_raw
from tests.factories import make_user


def page_url(study) -> str:
    return reverse("audit:audit_log", args=[study.slug])


def csv_url(study) -> str:
    return reverse("audit:audit_log_csv", args=[study.slug])


def test_investigators_and_superusers_see_it_others_get_404(client, study, alice, bob):
    assert client.get(page_url(study)).status_code == 302  # to the login form
    client.force_login(bob)
    assert client.get(page_url(study)).status_code == 404
    assert client.get(csv_url(study)).status_code == 404
    client.force_login(alice)
    assert client.get(page_url(study)).status_code == 200
    client.force_login(make_user("root", superuser=True))
    assert client.get(page_url(study)).status_code == 200


def test_it_shows_the_entries_newest_first_and_the_chain_intact(client, study, alice):
    study.title = "<b>Renamed</b>"
    study._history_user = alice
    study.save()
    client.force_login(alice)
    response = client.get(page_url(study))
    html = response.content.decode()
    assert "Intact." in html
    first = response.context["page"][0]
    assert (first.action, first.object_type, first.after) == (
        "change",
        "studies.study",
        {"title": "<b>Renamed</b>"},
    )
    assert "&lt;b&gt;Renamed&lt;/b&gt;" in html and "<b>Renamed</b>" not in html


def test_it_pages(client, study, alice):
    for i in range(views.PAGE_SIZE + 5):
        services.record(study=study, actor=alice, action="view", object_type="t", object_id=i)
    total = AuditEntry.objects.of_study(study).count()
    client.force_login(alice)
    first = client.get(page_url(study)).context["page"]
    assert len(first) == views.PAGE_SIZE and first[0].seq == total
    second = client.get(page_url(study) + "?page=2").context["page"]
    assert [e.seq for e in second] == list(range(total - views.PAGE_SIZE, 0, -1))


def test_it_says_where_the_chain_is_broken(client, study, alice):
    entry = services.record(study=study, actor=alice, action="view", object_type="t")
    run_raw("UPDATE audit_auditentry SET action = %s WHERE id = %s", ["edit", entry.pk])
    client.force_login(alice)
    html = client.get(page_url(study)).content.decode()
    assert f"at entry {entry.seq}: its fields do not match its hash" in html
    assert "Intact." not in html


def test_the_csv_holds_every_entry_and_records_its_own_export(client, study, alice):
    services.record(study=study, actor=alice, action="view", object_type="t", object_id=1)
    before = AuditEntry.objects.of_study(study).count()
    client.force_login(alice)
    response = client.get(csv_url(study))
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == before + 1
    assert [int(r["seq"]) for r in rows] == list(range(1, before + 2))
    last = rows[-1]
    assert (last["action"], last["object_type"], last["actor"]) == (
        "export",
        "audit.trail",
        "alice",
    )
    stored = AuditEntry.objects.of_study(study).get(seq=int(last["seq"]))
    assert last["hash"] == stored.hash


def test_a_transcript_view_is_recorded_with_who_and_which(client, alice, scored):
    task = scored.p1.tasks.get(position=2)
    client.force_login(alice)
    url = reverse("analysis:transcript", args=[scored.study.slug, task.pk])
    assert client.get(url + "?blinded=1").status_code == 200
    last = AuditEntry.objects.of_study(scored.study).order_by("seq").last()
    assert (last.action, last.object_type, last.object_id, last.actor_label) == (
        "view",
        "analysis.transcript",
        str(task.pk),
        "alice",
    )
    assert last.detail == {"blinded": True}


def test_a_missing_transcript_records_nothing(client, alice, scored):
    count = AuditEntry.objects.count()
    client.force_login(alice)
    assert client.get(reverse("analysis:transcript", args=["beta", 999999])).status_code == 404
    assert AuditEntry.objects.count() == count


def test_downloads_are_recorded(client, alice, scored):
    client.force_login(alice)
    table = reverse("analysis:export_table", args=[scored.study.slug, "answers", "csv"])
    b"".join(client.get(table + "?blinded=1").streaming_content)
    dictionary = reverse("analysis:export_dictionary", args=[scored.study.slug, "json"])
    assert client.get(dictionary).status_code == 200
    last_two = list(AuditEntry.objects.of_study(scored.study).order_by("-seq")[:2])
    assert [(e.action, e.object_id, e.detail["blinded"]) for e in reversed(last_two)] == [
        ("export", "answers.csv", True),
        ("export", "data_dictionary.json", False),
    ]


def test_export_study_is_recorded(tmp_path, alice, scored):
    call_command("export_study", scored.study.slug, "--out", str(tmp_path), "--tables", "answers")
    last = AuditEntry.objects.of_study(scored.study).order_by("seq").last()
    assert (last.action, last.object_type, last.actor) == (
        "export",
        "analysis.export_study",
        None,
    )
    assert last.detail["tables"] == ["answers"]
    assert last.detail["format"] == "csv" and last.detail["blinded"] is False


def test_an_export_of_every_table_is_recorded(tmp_path, scored):
    """Every table's name together is longer than an object id (PostgreSQL refused the
    entry, and with it the export): the tables go in the detail."""
    call_command("export_study", scored.study.slug, "--out", str(tmp_path))
    last = AuditEntry.objects.of_study(scored.study).order_by("seq").last()
    assert last.object_type == "analysis.export_study" and len(last.detail["tables"]) > 5


def test_an_object_id_too_long_for_the_column_is_refused_on_every_database(scored):
    from studyapp.audit.services import OBJECT_ID_MAX, record

    with pytest.raises(ValueError, match="object_id longer"):
        record(
            study=scored.study, action="view", object_type="x", object_id="a" * (OBJECT_ID_MAX + 1)
        )
