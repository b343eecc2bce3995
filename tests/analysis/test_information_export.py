"""The information_transfer export: one row per chat x key fact, streamed."""

from __future__ import annotations

import csv
import io
import json
from io import StringIO

from django.core.management import call_command
from django.urls import reverse

from studyapp.analysis import exports
from studyapp.chat.models import Message
from studyapp.participation.models import Participant
from studyapp.scoring.facts import FACTS_MATCHER_VERSION
from tests.analysis.scored import ARM_SECRETS, scored_answer
from tests.factories import make_participant, make_scenario


def test_the_export_has_a_row_per_chat_and_key_fact(tmp_path, informed):
    p = make_participant(informed.study, arm=informed.llm, status=Participant.Status.COMPLETED)
    scored_answer(
        p, informed.belly, 1, "ae", "x", chat=[("user", "hm"), ("user", "=fever on the right")]
    )
    make_scenario(informed.study, "no-facts")  # no key facts: no rows
    call_command(
        "export_study",
        "beta",
        "--out",
        str(tmp_path),
        "--tables",
        "information_transfer",
        stdout=StringIO(),
    )
    with (tmp_path / "information_transfer.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 + 1 + 2 + 2  # p1 belly, p1 back, p2 belly, the new chat
    last = [r for r in rows if r["conversation_id"] == rows[-1]["conversation_id"]]
    second = Message.objects.get(text="=fever on the right")
    assert [(r["fact_key"], r["given"], r["first_turn"], r["first_message_id"]) for r in last] == [
        ("right-side", "true", "2", str(second.pk)),
        ("fever", "true", "2", str(second.pk)),
    ]
    assert {r["arm"] for r in rows} == {"gptarmzq"}
    assert {(r["source"], r["matcher_version"]) for r in rows} == {
        ("matcher", FACTS_MATCHER_VERSION)
    }
    assert rows[0]["participant_messages"] == "1"
    dictionary = json.loads((tmp_path / "data_dictionary.json").read_text())
    table = dictionary["tables"][0]
    assert table["name"] == "information_transfer" and table["rows"] == 7
    assert [c["name"] for c in table["columns"]] == list(rows[0])
    assert FACTS_MATCHER_VERSION in dictionary["conventions"]["information_transfer"]


def test_a_blinded_export_of_it_names_arms_by_letter_only(client, alice, informed):
    client.force_login(alice)
    url = reverse(
        "analysis:export_table", args=[informed.study.slug, "information_transfer", "csv"]
    )
    response = client.get(url, {"blinded": "1"})
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 5 and "arm" not in rows[0]
    for secret in ARM_SECRETS:
        assert secret not in body
    assert exports.TABLES["information_transfer"].source is not None


def test_the_pilots_chats_are_in_it_only_when_the_export_includes_the_pilot(informed):
    pilot = make_participant(informed.study, arm=informed.llm, status=Participant.Status.COMPLETED)
    Participant.objects.filter(pk=pilot.pk).update(is_pilot=True)
    scored_answer(pilot, informed.belly, 1, "ae", "x", chat=[("user", "=fever on the right")])
    arms = exports.arm_names_for(study=informed.study)
    columns = [c.name for c in exports.INFORMATION_TRANSFER.visible_columns(blinded=False)]
    at = columns.index("participant_id")

    def participants(**kwargs) -> set[int]:
        table = exports.INFORMATION_TRANSFER
        got = exports.rows(table, study=informed.study, arms=arms, blinded=False, **kwargs)
        return {row[at] for row in got}

    assert pilot.pk not in participants()
    assert pilot.pk in participants(include_pilot=True)
    assert participants() < participants(include_pilot=True)
