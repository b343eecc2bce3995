"""Simulated participants: a scripted patient chats with the arm's (scripted) model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from studyapp.analysis import exports
from studyapp.analysis.consort import study_consort
from studyapp.analysis.selectors import (
    AnswerFilters,
    dashboard,
    study_list_for_user,
    study_report,
)
from studyapp.chat.models import Message
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.runtime.runner import evaluation_run_inline
from studyapp.evaluations.selectors import comparison_rows
from studyapp.evaluations.services import StartRequest, evaluation_start
from studyapp.participation.enrolment import cell_counts, participants_expire_inactive
from studyapp.participation.models import Allocation, Answer, Participant, Task
from studyapp.studies.models import Study
from tests.evaluations.runs.conftest import requeue_chunks
from tests.factories import make_endpoint, make_user

# The chat services run their database work through database_sync_to_async (another
# thread): the rows must be committed for it to see them.
pytestmark = pytest.mark.django_db(transaction=True)

FINAL = ["The conversation is over", "1) A&E 2) I think it is appendicitis."]


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
    # One endpoint plays both: the arm's replies are chats, the patient's say "patient"
    # (the scripted server picks its persona from that; the product names no persona).
    asked = {(r["model"], r.get("purpose")) for r in evaluator.requests()}
    assert asked == {("scripted-demo", None), ("scripted-demo", "patient")}


def _run_simulated(study, patient_server, capture):
    patient_server.reset()
    patient_server.configure(keyed_replies=[FINAL])
    make_endpoint(patient_server.base_url, name="patient-model")
    with capture(execute=True):
        run = evaluation_start(
            study=study,
            request=StartRequest(kind="simulated", patient_endpoint="patient-model"),
        )
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED
    return run


def test_each_simulated_patient_is_a_participant_chatting_through_the_chat_services(
    study_with_arm, evaluator, patient_server, fast_evaluations, django_capture_on_commit_callbacks
):
    study, arm = study_with_arm
    run = _run_simulated(study, patient_server, django_capture_on_commit_callbacks)

    simulated = Participant.objects.filter(study=study, is_simulated=True)
    assert simulated.count() == 2
    assert not Participant.objects.humans().filter(study=study).exists()
    assert not Allocation.objects.filter(study=study).exists()
    for item in run.items.select_related("task__participant", "task__answer"):
        task = item.task
        assert task is not None and task.scenario_id == item.scenario_id
        assert task.participant.is_simulated and task.participant.arm_id == arm.pk
        assert task.participant.status == Participant.Status.COMPLETED
        assert task.status == Task.Status.DONE
        messages = list(Message.objects.filter(conversation__task=task).in_order())
        assert [m.role for m in messages] == ["user", "assistant"] * 3
        assert all(m.status == Message.Status.COMPLETE for m in messages)
        assert all(m.completed_at is not None for m in messages)
        replies = [m for m in messages if m.role == "assistant"]
        assert all(m.time_to_first_token_ms is not None and m.duration_ms for m in replies)
        # The transcript on the item is the stored chat.
        assert [t["content"] for t in item.parsed["transcript"]] == [m.text for m in messages]
        # The answer went through the participants' answer service and was scored.
        answer = task.answer
        assert answer.scorer_version and answer.scored_at is not None
        assert answer.disposition_id == item.disposition_id
        assert answer.conditions_correct == item.conditions_correct
        assert item.parsed["answer_id"] == answer.pk
    chest = run.items.get(item_key="chest-pain").task.answer
    assert chest.disposition_outcome == "exact" and chest.conditions_correct is True


def test_simulated_participants_stay_out_of_every_human_figure(
    study_with_arm, evaluator, patient_server, fast_evaluations, django_capture_on_commit_callbacks
):
    study, arm = study_with_arm
    _run_simulated(study, patient_server, django_capture_on_commit_callbacks)
    assert Answer.objects.filter(task__participant__study=study).count() == 2

    consort = study_consort(study=study)
    assert consort.assessed == consort.consented == consort.allocated == 0
    assert all(a.completed == a.analysed == a.allocated == 0 for a in consort.arms)
    report = study_report(study=study)
    gpt = next(a for a in report.arms if a.key == arm.key)
    assert gpt.participants_total == 0 and gpt.figures.n_answers == 0
    board = dashboard(study=study, filters=AnswerFilters(), blinded=False)
    assert board.participants == board.answers == board.transcripts_pending == 0
    assert cell_counts(study=study) == {}
    listed = study_list_for_user(user=make_user("admin", superuser=True)).get(pk=study.pk)
    assert (listed.n_opened, listed.n_allocated, listed.n_answers) == (0, 0, 0)
    assert {row["source"] for row in comparison_rows(study=study)} == {"simulated"}

    # A simulated patient left mid-chat is never timed out like a person.
    Study.objects.filter(pk=study.pk).update(time_limit_minutes=1)
    stuck = Participant.objects.filter(study=study, is_simulated=True).first()
    Participant.objects.filter(pk=stuck.pk).update(status=Participant.Status.CONSENTED)
    assert participants_expire_inactive(now=timezone.now() + timedelta(days=1)) == 0

    # Exports keep the rows and say which are simulated.
    names = exports.arm_names_for(study=study)
    columns = [c.name for c in exports.PARTICIPANTS.visible_columns(blinded=False)]
    rows = list(exports.rows(exports.PARTICIPANTS, study=study, arms=names, blinded=False))
    flag = columns.index("is_simulated")
    assert len(rows) == 2 and all(row[flag] is True for row in rows)
    assert "is_simulated" in [
        c["name"]
        for t in exports.data_dictionary(study=study, fmt="csv", blinded=False)["tables"]
        if t["name"] == "participants"
        for c in t["columns"]
    ]


def test_running_the_chunk_again_makes_no_second_participant_task_or_message(
    study_with_arm, evaluator, patient_server, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    run = _run_simulated(study, patient_server, django_capture_on_commit_callbacks)

    def counts():
        return (
            Participant.objects.filter(study=study).count(),
            Task.objects.filter(participant__study=study).count(),
            Message.objects.filter(conversation__task__participant__study=study).count(),
            Answer.objects.filter(task__participant__study=study).count(),
        )

    before = counts()
    assert before == (2, 2, 12, 2)
    replies = {item.pk: item.parsed["final_replies"] for item in run.items.all()}
    asked = patient_server.stats()["count"]
    # A redelivered chunk whose results were lost: every item is pending again.
    run.items.update(status=EvaluationItem.Status.PENDING)
    requeue_chunks(run)
    EvaluationRun.objects.filter(pk=run.pk).update(status=EvaluationRun.Status.RUNNING)
    run = evaluation_run_inline(run_id=run.pk)
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert counts() == before
    assert all(item.task_id for item in run.items.all())
    # The patient's stored answers are read back: it is not asked the questions again.
    assert patient_server.stats()["count"] == asked
    assert {item.pk: item.parsed["final_replies"] for item in run.items.all()} == replies
