"""Questionnaires in the participant flow: placements, storing, idempotence, refusals."""

from __future__ import annotations

import pytest

from studyapp.participation.models import Participant, Task
from studyapp.participation.selectors import StepKind, participant_current_step
from studyapp.participation.services import questionnaire_submit
from studyapp.questionnaires.models import ItemAnswer, Response
from tests.factories import make_study
from tests.participation.conftest import enter
from tests.questionnaires.conftest import add_end

pytestmark = pytest.mark.django_db


def _step(flow):
    return participant_current_step(flow.refresh())


def _submit(flow, step, data):
    return flow.client.post(flow.url("questionnaire", pk=step.questionnaire_id), data)


def test_a_study_with_questionnaires_asks_each_at_its_place(q_study, client):
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    step = _step(flow)
    assert step.kind == StepKind.QUESTIONNAIRE
    page = flow.home()
    assert b"Do you use chatbots?" in page.content and b"About you" in page.content
    response = _submit(flow, step, {"q-uses_llm": "yes", "q-how_often": "4", "q-age": "40"})
    assert response.status_code == 302
    assert _step(flow).kind == StepKind.INSTRUCTIONS
    flow.post("instructions")
    for position in (1, 2):
        flow.post("sources", {"sources_text": "NHS website"}, position=position)
        flow.post("answer", flow.answer_data(), position=position)
        step = _step(flow)
        assert step.kind == StepKind.QUESTIONNAIRE
        assert step.questionnaire_task.position == position
        assert f"About scenario {position} of 2".encode() in flow.home().content
        if position == 1:
            # The next scenario waits for the questionnaire (its clock has not started).
            assert Task.objects.get(participant=flow.participant, position=2).status == "pending"
        _submit(flow, step, {"q-trust": str(position + 3)})
    step = _step(flow)
    assert step.kind == StepKind.QUESTIONNAIRE and step.questionnaire_task is None
    assert flow.refresh().status == Participant.Status.CONSENTED
    _submit(flow, step, {"q-sources": ["gp", "web"], "q-comments": ""})
    assert flow.refresh().status == Participant.Status.COMPLETED
    assert b"CODE" in flow.home().content or flow.home().status_code == 200
    responses = Response.objects.filter(participant=flow.participant)
    assert responses.count() == 4
    per_task = responses.filter(task__isnull=False).order_by("task__position")
    assert [r.answers.get().number for r in per_task] == [4.0, 5.0]
    end = ItemAnswer.objects.get(item__key="sources")
    assert end.choices == ["web", "gp"]
    # An optional item left empty stores no row.
    assert not ItemAnswer.objects.filter(item__key="comments").exists()


def test_the_next_task_starts_after_the_questionnaire(q_study, client):
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    _submit(flow, _step(flow), {"q-uses_llm": "no", "q-age": "30"})
    flow.post("instructions")
    flow.post("sources", {"sources_text": "NHS"}, position=1)
    flow.post("answer", flow.answer_data(), position=1)
    _submit(flow, _step(flow), {"q-trust": "2"})
    second = Task.objects.get(participant=flow.participant, position=2)
    assert second.status == "active" and second.started_at is not None
    step = _step(flow)
    assert step.kind == StepKind.SOURCES and step.task.pk == second.pk


def test_invalid_answers_are_shown_beside_their_item_and_nothing_is_stored(q_study, client):
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    step = _step(flow)
    page = _submit(flow, step, {"q-uses_llm": "maybe", "q-age": "12"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Please choose one of the options." in html
    assert "Please enter a number from 18 to 99." in html
    assert 'value="12"' in html  # what they typed is kept
    assert not Response.objects.exists()
    assert _step(flow).kind == StepKind.QUESTIONNAIRE


def test_a_hidden_items_answer_is_dropped(q_study, client):
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    _submit(flow, _step(flow), {"q-uses_llm": "no", "q-how_often": "5", "q-age": "30"})
    keys = set(ItemAnswer.objects.values_list("item__key", flat=True))
    assert keys == {"uses_llm", "age"}


def test_a_shown_required_conditional_item_is_required(q_study, client):
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    page = _submit(flow, _step(flow), {"q-uses_llm": "yes", "q-age": "30"})
    assert "Please answer this question." in page.content.decode()
    assert not Response.objects.exists()


def test_a_double_submit_stores_one_response(q_study, client):
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    step = _step(flow)
    raw = {"uses_llm": ["no"], "age": ["30"]}
    first = questionnaire_submit(
        participant_id=flow.participant.pk, questionnaire_id=step.questionnaire_id, raw=raw
    )
    again = questionnaire_submit(
        participant_id=flow.participant.pk,
        questionnaire_id=step.questionnaire_id,
        raw={"uses_llm": ["yes"], "how_often": ["1"], "age": ["50"]},
    )
    assert again.pk == first.pk
    assert Response.objects.count() == 1
    assert ItemAnswer.objects.get(item__key="age").number == 30.0
    # The browser's resent form lands on the current step, not an error.
    assert _submit(flow, step, {"q-uses_llm": "no", "q-age": "30"}).status_code == 302


def test_a_questionnaire_not_yet_reached_is_refused(q_study, client):
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    end = q_study.questionnaires.get(key="exit")
    response = flow.client.post(
        flow.url("questionnaire", pk=end.pk), {"q-comments": "x"}, follow=True
    )
    assert b"Please finish the earlier steps first." in response.content
    assert not Response.objects.exists()


def test_another_studys_questionnaire_is_not_found(q_study, client, db):
    other = make_study("other")
    foreign = add_end(other)
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    assert flow.client.post(flow.url("questionnaire", pk=foreign.pk), {}).status_code == 404


def test_participant_text_is_escaped(q_study, client):
    item = q_study.questionnaires.get(key="baseline").items.get(key="uses_llm")
    item.text = "<script>alert(1)</script>"
    item.save()
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    html = flow.home().content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_withdrawal_deletes_the_answers(q_study, client):
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    _submit(flow, _step(flow), {"q-uses_llm": "no", "q-age": "30"})
    flow.post("withdraw")
    assert not Response.objects.exists() and not ItemAnswer.objects.exists()


def test_an_end_questionnaire_alone_delays_completion(control_study, client):
    add_end(control_study)
    flow = enter(client, control_study)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    for position in (1, 2):
        flow.post("sources", {"sources_text": "NHS"}, position=position)
        flow.post("answer", flow.answer_data(), position=position)
    assert flow.refresh().status == Participant.Status.CONSENTED
    step = _step(flow)
    assert step.kind == StepKind.QUESTIONNAIRE
    _submit(flow, step, {})
    assert flow.refresh().status == Participant.Status.COMPLETED


def test_every_item_is_rendered_and_the_script_is_told_the_condition(q_study, client):
    flow = enter(client, q_study)
    flow.post("consent", {"agree": "1"})
    html = flow.home().content.decode()
    # Visible without JavaScript; questionnaire.js hides it until "yes" is chosen.
    assert (
        '<div class="q-item" id="item-how_often" data-condition-name="q-uses_llm" '
        'data-condition-values="[&quot;yes&quot;]">'
    ) in html
    assert "js/questionnaire.js" in html


def test_a_simulated_patient_answers_no_questionnaire_and_completes(q_study):
    from django.utils import timezone

    from studyapp.participation.services import answer_submit, task_start_answering

    now = timezone.now()
    patient = Participant.objects.create(
        study=q_study,
        prolific_pid="evalsim-1-1",
        is_simulated=True,
        arm=q_study.arms.get(),
        status=Participant.Status.CONSENTED,
        consented_at=now,
        instructions_read_at=now,
    )
    task = Task.objects.create(
        participant=patient, scenario=q_study.scenarios.first(), position=1, status="active"
    )
    task_start_answering(task_id=task.pk)
    level = q_study.disposition_scale.levels.get(code="ae")
    answer_submit(
        participant_id=patient.pk,
        position=1,
        disposition_id=level.pk,
        conditions_text="appendicitis",
        confidence=None,
    )
    patient.refresh_from_db()
    assert patient.status == Participant.Status.COMPLETED
    assert not Response.objects.exists()
