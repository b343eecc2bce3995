"""Simulated participants: a scripted patient chats with the arm's (scripted) model."""

from __future__ import annotations

import pytest

from studyapp.chat.scripted_server import ScriptedConfig, ScriptedServerThread
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.factories import make_endpoint

FINAL = ["The conversation is over", "1) A&E 2) I think it is appendicitis."]


@pytest.fixture(scope="module")
def patient_server():
    server = ScriptedServerThread(
        ScriptedConfig(mode="patient", record_messages=True, ttft_s=0.0, token_delay_s=0.0)
    ).start()
    yield server
    server.stop()


def test_a_simulated_patient_chats_up_to_max_turns_then_answers(
    study_with_arm, evaluator, patient_server, fast_evaluations, django_capture_on_commit_callbacks
):
    study, arm = study_with_arm
    patient_server.reset()
    patient_server.configure(keyed_replies=[FINAL])
    make_endpoint(patient_server.base_url, name="patient-model")

    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(
            study=study,
            request=StartRequest(kind="simulated", n=2, patient_endpoint="patient-model"),
        )
    run.refresh_from_db()

    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert run.items_total == 4
    chest = run.items.filter(item_key="chest-pain")
    assert all(i.correct and i.conditions_correct for i in chest)
    knee = run.items.filter(item_key="sore-knee")
    assert all(i.disposition_outcome == "over" and not i.conditions_correct for i in knee)
    transcript = chest[0].parsed["transcript"]
    # The arm allows 3 turns: patient, model, patient, model, patient, model.
    assert [t["role"] for t in transcript] == ["user", "assistant"] * 3
    assert transcript[0]["content"].startswith("[Scripted patient — not a person]")
    assert transcript[1]["content"].startswith("[Scripted demo model — not an AI]")
    assert chest[0].parsed["turns"] == 3
    # The arm's model saw what a participant's chat sends: its system prompt, then turns.
    last = evaluator.requests()[-1]["messages"]
    assert last[0] == {"role": "system", "content": arm.system_prompt}
    assert [m["role"] for m in last[1:]] == ["user", "assistant", "user", "assistant", "user"]
    # The patient saw the scenario and the persona, never the gold answer.
    patient_first = patient_server.requests()[0]["messages"]
    assert "lay person" in patient_first[0]["content"]
    assert (
        "(chest-pain)" in patient_first[0]["content"]
        or "(sore-knee)" in patient_first[0]["content"]
    )
    assert "appendicitis" not in patient_first[0]["content"]
    assert chest[0].prompt_tokens > 0


def test_a_patient_who_is_finished_ends_the_chat_early(
    study_with_arm, evaluator, patient_server, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    patient_server.reset()
    patient_server.configure(keyed_replies=[FINAL, ["[Scripted demo model", "FINISHED"]])
    make_endpoint(patient_server.base_url, name="patient-model")
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(
            study=study, request=StartRequest(kind="simulated", patient_endpoint="patient-model")
        )
    item = run.items.get(item_key="chest-pain")
    assert item.parsed["turns"] == 1
    assert item.correct is True


def test_a_scripted_arm_without_a_patient_model_gets_the_scripted_patient(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    evaluator.configure(keyed_replies=[FINAL])
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(study=study, request=StartRequest(kind="simulated"))
    item = run.items.get(item_key="chest-pain")
    assert item.correct is True
    assert item.parsed["transcript"][0]["content"].startswith("[Scripted patient")
    models = {r["model"] for r in evaluator.requests()}
    assert models == {"scripted-demo", "scripted-patient"}
