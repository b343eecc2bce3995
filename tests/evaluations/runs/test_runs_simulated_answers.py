"""Simulated participants' answers: confidence, the one re-ask, and no answer at all."""

from __future__ import annotations

import pytest

from studyapp.devtools.scripted_server import (
    patient_confidence,
)
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.runtime.runner import evaluation_run_inline
from studyapp.evaluations.selectors import comparison_rows, run_summary
from studyapp.evaluations.services import StartRequest, evaluation_start
from studyapp.participation.models import Answer, Participant, Task
from tests.evaluations.runs.conftest import requeue_chunks
from tests.factories import make_endpoint

# The chat services write from another thread: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

NO_CONFIDENCE = ["The conversation is over", "1) A&E 2) I think it is appendicitis."]
CARE_OPTIONS = "Ambulance; A&E; Urgent Primary Care; Routine GP; Self-care"


@pytest.fixture
def run_simulated(study_with_arm, patient_server, django_capture_on_commit_callbacks):
    """Runs the study's simulated participants against the patient persona, as configured."""
    study, _arm = study_with_arm
    make_endpoint(patient_server.base_url, name="patient-model")

    def run(**patient) -> EvaluationRun:
        patient_server.reset()
        patient_server.configure(**({"keyed_replies": [], "patient_omit": []} | patient))
        with django_capture_on_commit_callbacks(execute=True):
            started = evaluation_start(
                study=study,
                request=StartRequest(kind="simulated", patient_endpoint="patient-model"),
            )
        started.refresh_from_db()
        assert started.status == EvaluationRun.Status.SUCCEEDED
        return started

    return run


def final_asks(server) -> list[list[dict]]:
    """The requests in which the patient was asked the study's questions (or re-asked)."""
    return [r["messages"] for r in server.requests() if "one of:" in r["messages"][-1]["content"]]


def test_the_patient_is_asked_its_confidence_and_it_is_stored_on_the_answer(
    study_with_arm, evaluator, patient_server, fast_evaluations, run_simulated
):
    run = run_simulated()
    asks = final_asks(patient_server)
    assert len(asks) == 2
    assert "How confident are you in your answer, from 0" in asks[0][-1]["content"]
    for item in run.items.select_related("task__answer"):
        expected = patient_confidence(0, item.parsed["patient_system"])
        answer = item.task.answer
        assert answer.confidence == expected
        assert item.parsed["confidence"] == expected
        assert item.parsed["confidence_missing"] is False
        assert item.parsed["answered"] is True and item.parsed["reasked"] is False
        assert item.parsed["final_replies"] == [item.response]
        # The confidence is not part of the conditions.
        assert answer.conditions_text == "I'm not sure what it is"
    assert run.items.get(item_key="chest-pain").correct is True


def test_a_patient_who_gives_no_confidence_gets_none_stored_not_a_made_up_one(
    study_with_arm, evaluator, patient_server, fast_evaluations, run_simulated
):
    run = run_simulated(keyed_replies=[NO_CONFIDENCE])
    assert len(final_asks(patient_server)) == 2  # a missing confidence is not re-asked
    for item in run.items.select_related("task__answer"):
        assert item.task.answer.confidence is None
        assert item.parsed["confidence"] is None
        assert item.parsed["confidence_missing"] is True
        assert item.parsed["answered"] is True
    chest = run.items.get(item_key="chest-pain")
    assert chest.correct is True and chest.conditions_correct is True


def test_an_answer_without_conditions_is_asked_for_once_more_with_the_care_options(
    study_with_arm, evaluator, patient_server, fast_evaluations, run_simulated
):
    run = run_simulated(patient_omit=[["conditions"], []])
    asks = final_asks(patient_server)
    assert len(asks) == 4  # two items, each asked and re-asked
    reasks = [a for a in asks if a[-1]["content"].startswith("Your answer did not say")]
    assert len(reasks) == 2
    reask = reasks[0]
    assert CARE_OPTIONS in reask[-1]["content"]
    assert (
        "choose one of the care options" not in reask[-1]["content"]
    )  # the disposition was there
    # The patient sees its own incomplete answer before the clarifying message.
    assert reask[-2]["role"] == "assistant" and reask[-2]["content"].startswith("1) A&E 3)")
    for item in run.items.select_related("task__answer"):
        first, second = item.parsed["final_replies"]
        assert "2)" not in first and "2)" in second
        assert item.parsed["reasked"] is True and item.parsed["answered"] is True
        assert item.parsed["missing"] == []
        answer = item.task.answer
        assert answer.conditions_text == "I'm not sure what it is"
        assert answer.confidence == patient_confidence(0, item.parsed["patient_system"])
        assert item.task.status == Task.Status.DONE
        assert item.response == second
        assert item.prompt[-1]["content"].startswith("Your answer did not say")
    assert run.items.get(item_key="chest-pain").correct is True


def test_an_answer_still_incomplete_after_the_re_ask_is_kept_but_counts_as_wrong(
    study_with_arm, evaluator, patient_server, fast_evaluations, run_simulated
):
    study, _arm = study_with_arm
    run = run_simulated(patient_omit=[["conditions"]])
    assert len(final_asks(patient_server)) == 4  # asked and re-asked once, never more
    assert not Answer.objects.filter(task__participant__study=study).exists()
    for item in run.items.select_related("task__participant"):
        assert item.status == EvaluationItem.Status.SUCCEEDED
        assert item.parsed["answered"] is False and item.parsed["missing"] == ["conditions"]
        assert item.parsed["answer_id"] is None
        # The raw text and the part it did give are kept...
        assert item.response.startswith("1) A&E 3) Confidence:")
        assert len(item.parsed["final_replies"]) == 2
        assert item.parsed["patient_answer"]["disposition"] == "ae"
        # ...but the item is scored as no answer: wrong on both measures, never left out.
        assert item.disposition_id is None and item.disposition_outcome == ""
        assert item.correct is False and item.conditions_correct is False
        # The task waits at the answer step, as a participant's would.
        assert item.task.status == Task.Status.ANSWERING
        assert item.task.participant.status == Participant.Status.CONSENTED
    summary = run_summary(run=run)
    assert summary["disposition_accuracy"] == 0 and summary["conditions_accuracy"] == 0
    assert sum(s["disposition_n"] for s in summary["scenarios"]) == 2
    simulated = [r for r in comparison_rows(study=study) if r["source"] == "simulated"]
    assert sum(r["n"] for r in simulated) == 2
    assert sum(r["conditions_n"] for r in simulated) == 2


def test_a_redelivered_item_never_asks_or_re_asks_again(
    study_with_arm, evaluator, patient_server, fast_evaluations, run_simulated
):
    study, _arm = study_with_arm
    run = run_simulated(patient_omit=[["conditions"], []])
    answers = list(Answer.objects.filter(task__participant__study=study).values_list("pk"))
    before = {item.pk: item.parsed["final_replies"] for item in run.items.all()}
    requests = patient_server.stats()["count"]

    # Results lost after the answers arrived: the items are pending again.
    run.items.update(status=EvaluationItem.Status.PENDING)
    requeue_chunks(run)
    EvaluationRun.objects.filter(pk=run.pk).update(status=EvaluationRun.Status.RUNNING)
    run = evaluation_run_inline(run_id=run.pk)

    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert patient_server.stats()["count"] == requests
    assert {item.pk: item.parsed["final_replies"] for item in run.items.all()} == before
    assert list(Answer.objects.filter(task__participant__study=study).values_list("pk")) == (
        answers
    )
    assert all(item.parsed["answered"] for item in run.items.all())


def test_a_worker_lost_after_the_first_answer_asks_only_the_missing_re_ask(
    study_with_arm, evaluator, patient_server, fast_evaluations, run_simulated
):
    """The first answer was stored on the item, then the worker died before the re-ask."""
    study, _arm = study_with_arm
    run = run_simulated(patient_omit=[["conditions"], []])
    item = run.items.get(item_key="chest-pain")
    first = item.parsed["final_replies"][0]
    Answer.objects.filter(task__participant__study=study).delete()
    Task.objects.filter(participant__study=study).update(status=Task.Status.ANSWERING)
    Participant.objects.filter(study=study).update(status=Participant.Status.CONSENTED)
    EvaluationItem.objects.filter(pk=item.pk).update(
        status=EvaluationItem.Status.PENDING, parsed={**item.parsed, "final_replies": [first]}
    )
    requeue_chunks(run)
    EvaluationRun.objects.filter(pk=run.pk).update(status=EvaluationRun.Status.RUNNING)
    patient_server.reset()

    run = evaluation_run_inline(run_id=run.pk)

    asks = final_asks(patient_server)
    assert [a[-1]["content"].split("\n")[0] for a in asks] == [
        "Your answer did not say in words what you think the problem is."
    ]
    item.refresh_from_db()
    assert item.parsed["final_replies"][0] == first and len(item.parsed["final_replies"]) == 2
    assert item.task.answer.conditions_text == "I'm not sure what it is"
