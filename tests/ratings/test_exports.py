"""Labels and adjudications in the study's exports, with their data dictionary."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import call_command

from studyapp.ratings.decisions import transcript_decision
from studyapp.ratings.models import Label, RatingAssignment
from studyapp.ratings.services.labels import adjudication_save, label_save
from studyapp.ratings.services.rounds import round_create
from tests.analysis.test_exports import read_table
from tests.ratings.dataset import ARM_SECRETS, RUBRIC, decision
from tests.ratings.test_labels import assignment, item_of, label_all


@pytest.fixture
def labelled(rated, alice, frank):
    round_create(study=rated.study, name="R", created_by=alice, double_share=1, seed=11)
    label_all(rated)
    # R1 revises A1 once: two rows, the later current.
    label_save(
        assignment=assignment(rated, rated.r1, "A1"),
        decision=decision({"appendicitis"}, {"fever"}),
        reason="=fever is named",
    )
    item = item_of(rated, "A2")
    adjudication_save(
        item=item,
        user=frank,
        decision=None,
        reason="the answer names a fever",
        chosen_label=Label.objects.get(item=item, rater=rated.r1),
    )
    return rated


def export(tmp_path, fmt, *extra) -> dict:
    call_command(
        "export_study", "rated", "--format", fmt, "--out", str(tmp_path), *extra, stdout=StringIO()
    )
    return json.loads((tmp_path / "data_dictionary.json").read_text())


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_labels_and_adjudications_are_exported_with_their_dictionary(tmp_path, labelled, fmt):
    dictionary = export(tmp_path, fmt)
    tables = {t["name"]: t for t in dictionary["tables"]}
    assert (tables["labels"]["rows"], tables["adjudications"]["rows"]) == (7, 1)
    assert "R1, R2" in dictionary["conventions"]["ratings"]
    columns, labels = read_table(tmp_path / f"labels.{fmt}", fmt)
    assert columns == [c["name"] for c in tables["labels"]["columns"]]
    assert all(c["meaning"] for c in tables["labels"]["columns"])

    def value(row, name):
        raw = row[name]
        if fmt != "csv":
            return raw
        if name in ("conditions_named", "red_flags_named"):
            return json.loads(raw)
        if name in ("is_current", "is_double"):
            return raw == "true"
        if name.endswith("_id"):
            return int(raw) if raw else None
        return raw

    a1 = labelled.answers["A1"]
    rows = [r for r in labels if value(r, "answer_id") == a1.pk and r["rater_code"] == "R1"]
    assert [value(r, "is_current") for r in rows] == [False, True]
    assert value(rows[1], "red_flags_named") == ["fever"]
    # A reason starting with = is escaped in CSV only.
    assert rows[1]["reason"] == ("'=fever is named" if fmt == "csv" else "=fever is named")
    assert value(rows[1], "participant_id") == a1.task.participant_id
    assert value(rows[1], "is_double") is True
    assert {r["rater_code"] for r in labels} == {"R1", "R2"}
    _columns, adjudications = read_table(tmp_path / f"adjudications.{fmt}", fmt)
    (row,) = adjudications
    assert row["adjudicator_code"] == "R3"
    assert value(row, "red_flags_named") == ["fever"]
    chosen = Label.objects.get(item=item_of(labelled, "A2"), rater=labelled.r1)
    assert value(row, "chosen_label_id") == chosen.pk
    assert row["reason"] == "the answer names a fever"


def test_no_export_names_a_rater_and_a_blinded_one_no_arm(tmp_path, labelled):
    export(tmp_path, "jsonl", "--blinded")
    for path in tmp_path.iterdir():
        data = path.read_text()
        for secret in ARM_SECRETS:
            assert secret not in data, (path.name, secret)
        assert not re.search(r"\b(dave|erin|frank)\b", data), path.name


def test_transcript_labels_carry_the_rubric_as_json(tmp_path, rated, alice):
    round_create(
        study=rated.study,
        name="R",
        created_by=alice,
        double_share=0,
        answers=False,
        transcripts=True,
    )
    verdicts = {"names-appendicitis": True, "says-wait": False, "answer-ae": True}
    label_save(
        assignment=RatingAssignment.objects.first(),
        decision=transcript_decision(
            rubric=RUBRIC, verdicts=verdicts, turns={"names-appendicitis": [1]}, model_turns=2
        ),
    )
    export(tmp_path, "csv", "--tables", "labels")
    _columns, (row,) = read_table(tmp_path / "labels.csv", "csv")
    assert (row["item_kind"], row["answer_id"], row["task_id"]) == (
        "transcript",
        "",
        row["task_id"],
    )
    assert json.loads(row["rubric"])["names-appendicitis"] == {"met": True, "turns": [1]}
    assert row["participant_id"]
