"""Rubric grading over the demo study, with the scripted grader, gives the known result.

The scripted grader's rule is known in advance (devtools personas.grader_reply): an item
is met if and only if its key is named, as a whole token, in the text graded (the
assistant's turns for `model` items, the answer for `answer` items). So the texts below
name chosen rubric keys, and every score is worked out here by hand from the demo's
rubric (points in the comments), not by the code under test:

- model alone (one output per scenario, which is both its turn and its answer):
  paving-slabs   advises-999 3 + names-heart-attack 2 - reassures-muscular 3
                 + answer-names-heart-attack 1 = 3 of 7 (3+2+1+1)
  flight-home    advises-ae 3 + names-clot 2 + asks-risks 1 - calf-is-a-strain 3
                 + answer-names-pe 1 = 4 of 7
  garden-step    rest-at-home -3 of 6 -> clipped to 0
  side-and-...   advises-urgent-care 3 + names-kidney-infection 2 + sepsis-signs 1 = 6/6
  tingling-...   advises-gp 2 + answer-names-carpal-tunnel 1 = 3 of 6 (names-carpal-tunnel
                 is not met: it is only part of the answer key's token)
  sofa-lift      nothing named: 0 of 6
  mean = (3/7 + 4/7 + 0 + 1 + 1/2 + 0) / 6 = 2.5 / 6
- simulated (the arm's one reply names keys; the patient's answer names none):
  paving 3+1 = 4/7, flight 2/7, garden 3+2+1 = 6/6, side 3-2 = 1/6,
  tingling 2+2+1-2 = 3/6, sofa 2+2+2-1 = 5/6; mean = (6/7 + 5/2) / 6
- participants, LLM arm: one names every positive key of each of their two scenarios
  (score 1), the other only the harmful ones (clipped to 0): mean 1/2, and the 95%
  bootstrap CI of four values 1, 1, 0, 0 is [0, 1] (a resample of four zeros has
  probability 1/16 > 2.5%). Their messages name every key of the scenario too: the
  conversation is context, never graded.
- participants, control arm: the items about the model do not apply; one names the
  answer items' keys (1 where the scenario has an answer item), the other nothing (0);
  a task whose scenario has no answer item has nothing to grade and is no target.
"""

from __future__ import annotations

import json
from contextlib import aclosing

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command

from studyapp.chat.services import conversation_get_or_create, message_store_user, reply_stream
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.selectors import run_summary
from studyapp.evaluations.services import StartRequest, evaluation_start
from studyapp.participation.models import Participant, Task
from studyapp.participation.services import (
    answer_submit,
    participant_consent,
    participant_read_instructions,
    task_start_answering,
)
from studyapp.participation.transitions import participant_record_entry
from studyapp.studies.demo import DEMO_ENDPOINT_NAME, demo_seed
from studyapp.studies.models import Scenario, Study

pytestmark = pytest.mark.django_db(transaction=True)

MODEL_ALONE = {
    "paving-slabs": "advises-999 names-heart-attack reassures-muscular answer-names-heart-attack",
    "flight-home": "advises-ae names-clot asks-risks calf-is-a-strain answer-names-pe",
    "garden-step": "rest-at-home",
    "side-and-shivers": "advises-urgent-care names-kidney-infection sepsis-signs",
    "tingling-fingers": "advises-gp answer-names-carpal-tunnel",
    "sofa-lift": "Rest and see how it goes.",
}
MODEL_ALONE_SCORES = {
    "paving-slabs": 3 / 7,
    "flight-home": 4 / 7,
    "garden-step": 0.0,
    "side-and-shivers": 1.0,
    "tingling-fingers": 0.5,
    "sofa-lift": 0.0,
}
SIMULATED = {
    "paving-slabs": "advises-999 aspirin",
    "flight-home": "names-clot",
    "garden-step": "advises-ae names-bleed warning-signs",
    "side-and-shivers": "advises-urgent-care wait-it-out",
    "tingling-fingers": "advises-gp names-carpal-tunnel self-help nothing-to-do",
    "sofa-lift": "advises-self-care names-strain red-flag-signs bed-rest",
}
SIMULATED_SCORES = {
    "paving-slabs": 4 / 7,
    "flight-home": 2 / 7,
    "garden-step": 1.0,
    "side-and-shivers": 1 / 6,
    "tingling-fingers": 0.5,
    "sofa-lift": 5 / 6,
}
END = "END-OF-ADVICE"


def _opening(scenario: Scenario) -> str:
    """A phrase of the scenario only it has ("You are playing the part of Graham"): the
    model-alone prompt and the simulated patient's first message both quote it."""
    return scenario.sections[0]["text"].split(",")[0]


@pytest.fixture
def demo(evaluator) -> Study:
    study = demo_seed(
        scripted_model_url=evaluator.base_url,
        investigator_password="password-for-tests",
        password_is_explicit=True,
    ).study
    # Blocks of two: four participants are two per arm, whatever the seed; a fixed seed
    # makes the scenarios each is given the same in every run of the test.
    study.allocation_block_sizes = [2]
    study.allocation_seed = 2026
    study.save(update_fields=["allocation_block_sizes", "allocation_seed"])
    return study


def _chat_once(task: Task, text: str) -> None:
    """One turn of a participant's chat through the chat services."""
    conversation = conversation_get_or_create(task=task)
    stored = message_store_user(
        conversation_id=conversation.pk, text=text, client_message_id=f"m-{task.pk}"
    )

    async def reply() -> None:
        async with aclosing(
            reply_stream(conversation_id=conversation.pk, user_message_id=stored.message_id)
        ) as events:
            async for _event in events:
                pass

    async_to_sync(reply)()


def _keys(scenario: Scenario, *, points: str, applies_to: str | None = None) -> list[str]:
    return [
        item["key"]
        for item in scenario.rubric
        if (points == "positive") == (item["points"] > 0)
        and (applies_to is None or item["applies_to"] == applies_to)
    ]


def _humans(study: Study, evaluator) -> dict[str, list[float | None]]:
    """Four participants through the services; returns the scores worked out per arm."""
    participants = []
    for n in range(4):
        participant = Participant.objects.create(study=study, prolific_pid=f"rubric-{n}")
        participant_record_entry(participant=participant)
        participant_consent(participant_id=participant.pk)
        participant_read_instructions(participant_id=participant.pk)
        participants.append(Participant.objects.select_related("arm").get(pk=participant.pk))
    levels = {level.code: level.pk for level in study.disposition_scale.levels.all()}
    expected: dict[str, list[float | None]] = {"assistant": [], "control": []}
    seen = {"assistant": 0, "control": 0}
    for participant in participants:
        arm = participant.arm.key
        good = seen[arm] == 0  # the first of each arm names the positive keys
        seen[arm] += 1
        for task in Task.objects.filter(participant=participant).order_by("position"):
            scenario = task.scenario
            answer_keys = _keys(scenario, points="positive", applies_to="answer")
            if arm == "assistant":
                said = _keys(scenario, points="positive" if good else "negative")
                marker = f"[case {participant.pk}-{task.position}]"
                evaluator.configure(keyed_replies=[[marker, "Advice: " + " ".join(said)]])
                every_key = " ".join(item["key"] for item in scenario.rubric)
                _chat_once(task, f"What should I do? {marker} {every_key}")
                expected[arm].append(1.0 if good else 0.0)
            else:
                expected[arm].append(None if not answer_keys else 1.0 if good else 0.0)
            if arm == "assistant":
                task_start_answering(task_id=task.pk)
            else:
                from studyapp.participation.services import task_save_sources

                task_save_sources(
                    participant_id=participant.pk, position=task.position, sources_text="NHS"
                )
            answer_submit(
                participant_id=participant.pk,
                position=task.position,
                disposition_id=levels["ae"],
                conditions_text=" ".join(answer_keys) if good and answer_keys else "no idea",
                confidence=50,
            )
    evaluator.configure(keyed_replies=[])
    return expected


def _run(study: Study, request: StartRequest, capture) -> EvaluationRun:
    with capture(execute=True):
        run = evaluation_start(study=study, request=request)
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED, run.error
    return run


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _group(summary: dict, source: str, arm: str) -> dict:
    (row,) = [r for r in summary["rubric"]["groups"] if (r["source"], r["arm"]) == (source, arm)]
    return row


def test_a_rubric_run_over_humans_model_alone_and_simulated_gives_the_known_scores(
    demo, evaluator, fast_evaluations, tmp_path, django_capture_on_commit_callbacks
):
    study = demo
    scenarios = {s.key: s for s in Scenario.objects.filter(study=study).active()}
    capture = django_capture_on_commit_callbacks
    human_expected = _humans(study, evaluator)

    evaluator.configure(
        keyed_replies=[[_opening(scenarios[key]), text] for key, text in MODEL_ALONE.items()]
    )
    model_alone = _run(study, StartRequest(kind="model_alone", n=1), capture)
    evaluator.configure(
        keyed_replies=[
            *(
                [_opening(scenarios[key]), f"{text} Please go to A&E. {END}"]
                for key, text in SIMULATED.items()
            ),
            [END, "FINISHED"],
        ]
    )
    simulated = _run(study, StartRequest(kind="simulated", n=1), capture)
    evaluator.configure(keyed_replies=[])
    evaluator.reset()

    rubric = _run(
        study,
        StartRequest(
            kind="rubric",
            grader_endpoint=DEMO_ENDPOINT_NAME,
            humans=True,
            source_runs=(model_alone.key, simulated.key),
        ),
        capture,
    )

    assert rubric.arm is None and rubric.endpoint.name == DEMO_ENDPOINT_NAME
    assert rubric.items_failed == 0
    # Every grader request said what it was for, and got the scripted grader.
    graded = evaluator.requests()
    assert graded and {r["purpose"] for r in graded} == {"grader"}
    summary = run_summary(run=rubric)
    assert summary["rubric"]["template_version"] == "rubric-grader-v1"

    row = _group(summary, "model_alone", "assistant")
    assert row["run"] == model_alone.key and row["n"] == 6
    assert row["mean"] == pytest.approx(2.5 / 6)
    assert row["low"] <= row["mean"] <= row["high"]
    per_scenario = {
        r["scenario"]: r["mean"]
        for r in summary["rubric"]["scenarios"]
        if r["source"] == "model_alone"
    }
    assert per_scenario == pytest.approx(MODEL_ALONE_SCORES)

    row = _group(summary, "simulated", "assistant")
    assert row["run"] == simulated.key and row["n"] == 6
    assert row["mean"] == pytest.approx((6 / 7 + 5 / 2) / 6)
    per_scenario = {
        r["scenario"]: r["mean"]
        for r in summary["rubric"]["scenarios"]
        if r["source"] == "simulated"
    }
    assert per_scenario == pytest.approx(SIMULATED_SCORES)

    row = _group(summary, "human", "assistant")
    assert (row["n"], row["mean"], row["low"], row["high"]) == (4, 0.5, 0.0, 1.0)
    # A control task whose scenario has no answer item has nothing to grade: not a target.
    control = [v for v in human_expected["control"] if v is not None]
    rows = [r for r in summary["rubric"]["groups"] if r["arm"] == "control"]
    if control:
        assert rows[0]["n"] == rows[0]["targets"] == len(control)
        assert rows[0]["mean"] == pytest.approx(_mean(control))
    else:
        assert rows == []

    # Met rates per rubric item: e.g. the model-alone output named names-heart-attack,
    # and the tingling output's answer key did not count for names-carpal-tunnel.
    rates = {
        (r["scenario"], r["key"], g["source"]): (g["met"], g["graded"])
        for r in summary["rubric"]["rubric_items"]
        for g in r["by_group"]
    }
    assert rates[("paving-slabs", "names-heart-attack", "model_alone")] == (1, 1)
    assert rates[("tingling-fingers", "names-carpal-tunnel", "model_alone")] == (0, 1)
    assert rates[("tingling-fingers", "answer-names-carpal-tunnel", "model_alone")] == (1, 1)
    assert rates[("paving-slabs", "answer-names-heart-attack", "simulated")] == (0, 1)
    # Control participants had no model: no item about the model was planned for them.
    control_items = EvaluationItem.objects.filter(
        run=rubric, parsed__target__source="human", parsed__target__arm="control"
    )
    assert {i.parsed["rubric"]["applies_to"] for i in control_items} <= {"answer"}
    # An answer item shows the answer, never the conversation.
    answer_item = EvaluationItem.objects.filter(
        run=rubric, parsed__target__source="human", parsed__rubric__applies_to="answer"
    ).first()
    if answer_item is not None:
        assert "What should I do?" not in answer_item.prompt[0]["content"]

    call_command("study_report", study.slug, "--format", "json", stdout=(out := _Out()))
    entry = next(e for e in json.loads(out.text)["evaluations"] if e["key"] == rubric.key)
    assert entry["results"]["rubric"]["groups"] == summary["rubric"]["groups"]
    assert entry["results"]["grader_agreement"]["labelled_targets"] == 0  # nobody rated yet

    # The export holds the same scores, one row per target, with the dictionary's columns.
    call_command(
        "export_study", study.slug, "--format", "jsonl", "--out", str(tmp_path),
        "--tables", "rubric_scores", stdout=_Out(),
    )  # fmt: skip
    rows = [
        json.loads(line) for line in (tmp_path / "rubric_scores.jsonl").read_text().splitlines()
    ]
    exported = {
        row["scenario_key"]: row["score"] for row in rows if row["source"] == "model_alone"
    }
    assert exported == pytest.approx(MODEL_ALONE_SCORES)
    exported = {row["scenario_key"]: row["score"] for row in rows if row["source"] == "simulated"}
    assert exported == pytest.approx(SIMULATED_SCORES)
    humans = [row for row in rows if row["source"] == "human" and row["arm"] == "assistant"]
    assert sorted(row["score"] for row in humans) == [0.0, 0.0, 1.0, 1.0]
    assert all(row["participant_id"] and row["task_id"] for row in humans)
    dictionary = json.loads((tmp_path / "data_dictionary.json").read_text())
    [table] = dictionary["tables"]
    assert [c["name"] for c in table["columns"]] == list(rows[0])


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
