"""The rubric grader's scores and verdicts in the exports, with their dictionary entries.

Two participants' chats of one scenario (rubric: advises-ae 2, says-wait -2, names-it 1
on the answer) graded by the scripted grader: the first says "advises-ae" and answers
"names-it" (3 of 3: score 1), the second's answer holds GARBLE, for which the grader's
reply has no verdict: its answer item is not graded and its score is empty.
"""

from __future__ import annotations

import csv
import json
from io import StringIO

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from studyapp.evaluations.runtime.runner import evaluation_run_inline
from studyapp.evaluations.services import StartRequest, evaluation_start
from studyapp.participation.models import Participant
from tests.analysis.scored import scored_answer
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_participant,
    make_scenario,
    make_study,
)

RUBRIC = [
    {"key": "advises-ae", "text": "Advises A&E.", "points": 2, "applies_to": "model"},
    {"key": "says-wait", "text": "Says to wait.", "points": -2, "applies_to": "model"},
    {"key": "names-it", "text": "The answer names it.", "points": 1, "applies_to": "answer"},
]


@pytest.fixture
def graded(db, scripted, settings):
    settings.EVALUATION_RETRY_BASE_S = 0.01
    study = make_study("rubricx")
    scenario = make_scenario(study, "belly", rubric=RUBRIC)
    arm = make_llm_arm(study, make_endpoint(scripted.base_url, name="judge"), key="armzq")
    participants = []
    for said, answer in (("advises-ae now", "names-it"), ("rest", "GARBLE")):
        participant = make_participant(study, arm=arm, status=Participant.Status.COMPLETED)
        scored_answer(
            participant, scenario, 1, "ae", answer, chat=[("user", "hi"), ("assistant", said)]
        )
        participants.append(participant)
    scripted.configure(keyed_replies=[["GARBLE", "no idea"]])
    try:
        run = evaluation_start(
            study=study,
            request=StartRequest(kind="rubric", grader_endpoint="judge", humans=True),
            enqueue=False,
        )
        run = evaluation_run_inline(run_id=run.pk)
    finally:
        scripted.configure(keyed_replies=[])
    return study, run, participants


def export(tmp_path, fmt: str, *extra: str) -> dict:
    call_command(
        "export_study", "rubricx", "--format", fmt, "--out", str(tmp_path),
        "--tables", "rubric_scores,rubric_verdicts", *extra, stdout=StringIO(),
    )  # fmt: skip
    return json.loads((tmp_path / "data_dictionary.json").read_text())


def test_scores_and_verdicts_are_exported_with_their_dictionary(graded, tmp_path):
    _study, run, (first, second) = graded
    dictionary = export(tmp_path, "jsonl")

    scores = [
        json.loads(line) for line in (tmp_path / "rubric_scores.jsonl").read_text().splitlines()
    ]
    by_participant = {row["participant_id"]: row for row in scores}
    assert by_participant[first.pk] | {} == by_participant[first.pk] | {
        "run_key": run.key, "source": "human", "arm": "armzq", "repetition": 0, "items": 3,
        "items_met": 2, "items_not_graded": 0, "achieved": 3, "possible": 3, "score": 1.0,
        "template_version": "rubric-grader-v1", "scenario_key": "belly",
    }  # fmt: skip
    assert by_participant[second.pk]["items_not_graded"] == 1
    assert (
        by_participant[second.pk]["score"] is None
        and by_participant[second.pk]["achieved"] is None
    )
    assert by_participant[second.pk]["possible"] == 3

    verdicts = [
        json.loads(line) for line in (tmp_path / "rubric_verdicts.jsonl").read_text().splitlines()
    ]
    assert len(verdicts) == 6
    failed = [v for v in verdicts if v["status"] == "failed"]
    assert [(v["participant_id"], v["rubric_key"], v["met"]) for v in failed] == [
        (second.pk, "names-it", None)
    ]
    assert failed[0]["error"].startswith("unreadable verdict")
    says_wait = next(
        v for v in verdicts if v["participant_id"] == first.pk and v["rubric_key"] == "says-wait"
    )
    assert (says_wait["points"], says_wait["applies_to"], says_wait["met"]) == (-2, "model", False)
    assert "does not name says-wait" in says_wait["explanation"]

    tables = {t["name"]: t for t in dictionary["tables"]}
    assert tables["rubric_scores"]["rows"] == 2 and tables["rubric_verdicts"]["rows"] == 6
    columns = {c["name"] for c in tables["rubric_scores"]["columns"]}
    assert {"score", "achieved", "possible", "participant_id", "arm_letter"} <= columns
    assert "clipped to [0, 1]" in dictionary["conventions"]["rubric"]


def test_a_blinded_export_hides_the_arm_the_source_run_and_the_grader(graded, tmp_path):
    export(tmp_path, "csv", "--blinded")
    for name in ("rubric_scores", "rubric_verdicts"):
        with (tmp_path / f"{name}.csv").open(newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        assert {"arm", "source_run_key", "grader_model"}.isdisjoint(reader.fieldnames)
        assert {row["arm_letter"] for row in rows} == {"A"}
        assert "armzq" not in (tmp_path / f"{name}.csv").read_text()


def test_parquet_types_scores_and_verdicts(graded, tmp_path):
    export(tmp_path, "parquet")
    scores = pq.read_table(tmp_path / "rubric_scores.parquet")
    assert str(scores.schema.field("score").type) == "double"
    verdicts = pq.read_table(tmp_path / "rubric_verdicts.parquet")
    assert str(verdicts.schema.field("met").type) == "bool"
    assert str(verdicts.schema.field("points").type) == "int64"
