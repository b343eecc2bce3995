from __future__ import annotations

import re

import pytest
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone

from studyapp.participation.models import Answer, Participant, Task
from studyapp.participation.selectors import StepKind, participant_current_step
from studyapp.participation.services import answer_submit, task_start_answering
from studyapp.studies.models import DispositionLevel, DispositionScale
from tests.conftest import require
from tests.factories import make_participant
from tests.participation.conftest import Flow, enter


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def step_of(response) -> StepKind:
    return response.context["step"].kind


def current_task(flow: Flow) -> Task:
    return flow.participant.tasks.exclude(status=Task.Status.DONE).order_by("position").first()


def chat_partial_exists() -> bool:
    try:
        get_template("chat/_chat.html")
    except TemplateDoesNotExist:
        return False
    return True


def test_reload_resumes_at_every_step_of_the_control_flow(control_study, client):
    flow = enter(client, control_study)
    for _ in range(2):
        assert step_of(flow.home()) == StepKind.CONSENT
    flow.post("consent", {"agree": "1"})
    for _ in range(2):
        assert step_of(flow.home()) == StepKind.INSTRUCTIONS
    flow.post("instructions")
    for position in (1, 2):
        for _ in range(2):
            page = flow.home()
            assert step_of(page) == StepKind.SOURCES
            assert page.context["task"].position == position
        flow.post("sources", {"sources_text": "NHS website"}, position=position)
        for _ in range(2):
            page = flow.home()
            assert step_of(page) == StepKind.ANSWER
            assert page.context["task"].position == position
        flow.post("answer", flow.answer_data(), position=position)
    for _ in range(2):
        assert step_of(flow.home()) == StepKind.COMPLETE


def test_the_task_page_shows_the_scenario_and_the_progress(consented):
    page = consented.home()
    task = current_task(consented)
    content = page.content.decode()
    assert "Scenario 1 of 2" in content
    assert task.scenario.title in content
    for section in task.scenario.sections:
        assert section["heading"] in content
        assert section["text"] in content
    assert 'id="sources-form"' in content
    assert "data-no-paste" in content  # the sources box refuses paste


def test_the_scenario_stays_visible_on_the_answer_form(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    content = consented.home().content.decode()
    task = current_task(consented)
    assert 'id="scenario-panel"' in content
    assert task.scenario.sections[0]["text"] in content
    assert 'id="answer-form"' in content


def test_the_answer_form_offers_the_scale_most_acute_first(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    content = consented.home().content.decode()
    labels = ["Ambulance", "A&amp;E", "Urgent Primary Care", "Routine GP", "Self-care"]
    positions = [content.index(label) for label in labels]
    assert positions == sorted(positions)
    assert "treatment needed on the way" in content  # level descriptions are shown
    assert content.count('type="radio" name="disposition"') == 5
    assert consented.participant.study.disposition_question in content


def test_confidence_starts_unset_and_must_be_set(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    content = consented.home().content.decode()
    # No anchor: the field is an empty, required number box; the slider beside it has no
    # name (it is never sent) and shows no thumb until it is moved.
    assert re.search(r'<input type="number" name="confidence" [^>]*required\s+value=""', content)
    assert re.search(r'<input type="range" [^>]*class="confidence-slider slider-unset"', content)
    assert 'type="range" name=' not in content
    response = consented.post("answer", consented.answer_data(confidence=""), position=1)
    assert response.status_code == 200
    assert "Please set your confidence" in response.content.decode()
    assert not Answer.objects.exists()


def test_the_answer_records_that_the_participant_set_their_confidence(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    consented.post("answer", consented.answer_data(confidence=50), position=1)
    answer = Answer.objects.get()
    assert (answer.confidence, answer.confidence_set) == (50, True)


def test_a_confidence_set_before_an_error_is_kept(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    data = consented.answer_data(conditions_text="", confidence=35)
    content = consented.post("answer", data, position=1).content.decode()
    assert re.search(r'name="confidence" [^>]*value="35"', content)


def test_the_control_flow_ends_with_the_completion_code(consented):
    for position in (1, 2):
        assert (
            consented.post(
                "sources", {"sources_text": "NHS 111 online\nA friend"}, position=position
            ).status_code
            == 302
        )
        assert (
            consented.post(
                "answer",
                consented.answer_data(conditions_text="Appendicitis, ovarian torsion; UTI"),
                position=position,
            ).status_code
            == 302
        )

    participant = consented.refresh()
    assert participant.status == Participant.Status.COMPLETED
    assert participant.completed_at is not None
    tasks = list(participant.tasks.order_by("position"))
    assert [t.status for t in tasks] == [Task.Status.DONE, Task.Status.DONE]
    assert tasks[0].sources_text == "NHS 111 online\nA friend"
    assert all(t.finished_at for t in tasks)
    answer = tasks[1].answer
    assert answer.conditions == ["Appendicitis", "ovarian torsion", "UTI"]
    assert answer.confidence == 70
    assert answer.disposition.code == "ae"

    page = consented.home()
    assert "participation/complete.html" in templates(page)
    assert "DONE1234" in page.content.decode()
    assert "http-equiv" not in page.content.decode()  # no completion URL: no redirect


def test_the_second_task_becomes_active_when_the_first_is_answered(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    consented.post("answer", consented.answer_data(), position=1)
    second = consented.participant.tasks.get(position=2)
    assert second.status == Task.Status.ACTIVE
    assert second.started_at is not None
    assert "Scenario 2 of 2" in consented.home().content.decode()


def test_completion_sends_the_participant_to_the_completion_url(consented):
    study = consented.participant.study
    study.completion_url = "https://app.prolific.com/submissions/complete"
    study.save()
    for position in (1, 2):
        consented.post("sources", {"sources_text": "none"}, position=position)
        consented.post("answer", consented.answer_data(), position=position)
    content = consented.home().content.decode()
    target = "https://app.prolific.com/submissions/complete?cc=DONE1234"
    assert f'<meta http-equiv="refresh" content="5;url={target}">' in content
    assert f'href="{target}"' in content
    assert "DONE1234" in content


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"disposition": ""}, "Please choose one of the options."),
        ({"disposition": "999999"}, "Please choose one of the options."),
        ({"conditions_text": "  "}, "Please answer this question."),
        ({"conditions_text": " ;, - "}, "Please answer this question in words."),
        ({"conditions_text": "x" * 2001}, "under 2000 characters"),
        ({"confidence": "101"}, "between 0 and 100"),
        ({"confidence": "lots"}, "Please give your confidence as a whole number"),
        ({"confidence": ""}, "Please set your confidence"),
    ],
)
def test_an_invalid_answer_is_shown_again_with_a_message_and_stores_nothing(
    consented, overrides, message
):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    data = consented.answer_data(**{"conditions_text": "my own words", **overrides})
    response = consented.post("answer", data, position=1)
    assert response.status_code == 200
    content = response.content.decode()
    assert message in content
    assert "Your answer is not saved yet" in content
    assert not Answer.objects.exists()
    assert current_task(consented).status == Task.Status.ANSWERING
    if "conditions_text" not in overrides:
        assert "my own words" in content  # what they typed is kept


def test_an_answer_from_another_studys_scale_is_refused(consented, db):

    other = DispositionScale.objects.create(slug="three", name="Three levels")
    foreign = DispositionLevel.objects.create(scale=other, value=2, code="urgent", label="Urgent")
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    response = consented.post("answer", consented.answer_data(disposition=foreign.pk), position=1)
    assert response.status_code == 200
    assert not Answer.objects.exists()


def test_the_radio_choice_is_kept_after_an_error(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    data = consented.answer_data(level_code="self_care", conditions_text="")
    content = consented.post("answer", data, position=1).content.decode()
    level = consented.participant.study.disposition_scale.levels.get(code="self_care")
    assert re.search(rf'value="{level.pk}" required checked', content)


def test_a_double_answer_submit_stores_one_answer(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    first = consented.post("answer", consented.answer_data(), position=1)
    second = consented.post("answer", consented.answer_data(level_code="self_care"), position=1)
    assert (first.status_code, second.status_code) == (302, 302)
    assert Answer.objects.count() == 1
    assert Answer.objects.get().disposition.code == "ae"  # the first one counts
    assert consented.participant.tasks.get(position=2).status == Task.Status.ACTIVE


def test_the_answer_service_is_idempotent(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    data = consented.answer_data()
    kwargs = {
        "participant_id": consented.participant.pk,
        "position": 1,
        "disposition_id": data["disposition"],
        "conditions_text": "appendicitis",
        "confidence": 10,
    }
    assert answer_submit(**kwargs).pk == answer_submit(**kwargs).pk
    assert Answer.objects.count() == 1


def test_sources_are_required(consented):
    response = consented.post("sources", {"sources_text": "   "}, position=1)
    assert response.status_code == 200
    assert "Please describe the sources you used" in response.content.decode()
    assert current_task(consented).status == Task.Status.ACTIVE


def test_a_resent_sources_form_changes_nothing(consented):
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    consented.post("sources", {"sources_text": "something else"}, position=1)
    task = consented.participant.tasks.get(position=1)
    assert (task.sources_text, task.status) == ("NHS website", Task.Status.ANSWERING)


def test_answering_before_noting_sources_is_refused(consented):
    response = consented.client.post(
        consented.url("answer", position=1), consented.answer_data(), follow=True
    )
    assert "Please finish the earlier steps first" in response.content.decode()
    assert not Answer.objects.exists()
    assert step_of(response) == StepKind.SOURCES


def test_the_second_task_cannot_be_started_before_the_first(consented):
    response = consented.client.post(
        consented.url("sources", position=2), {"sources_text": "NHS website"}, follow=True
    )
    assert "Please finish the earlier steps first" in response.content.decode()
    assert consented.participant.tasks.get(position=2).status == Task.Status.PENDING


def test_tasks_cannot_be_reached_before_instructions(control_study, client):
    flow = enter(client, control_study)
    flow.post("consent", {"agree": "1"})
    response = flow.client.post(
        flow.url("sources", position=1), {"sources_text": "NHS website"}, follow=True
    )
    assert "Please finish the earlier steps first" in response.content.decode()
    assert step_of(response) == StepKind.INSTRUCTIONS


def test_an_llm_participant_cannot_use_the_sources_step(llm_study, client):
    flow = enter(client, llm_study)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    response = flow.client.post(
        flow.url("sources", position=1), {"sources_text": "NHS website"}, follow=False
    )
    assert response.status_code == 302
    task = flow.participant.tasks.get(position=1)
    assert (task.status, task.sources_text) == (Task.Status.ACTIVE, "")


def test_an_llm_participant_answers_after_finishing_the_chat(llm_study, client):

    flow = enter(client, llm_study)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    task = flow.participant.tasks.get(position=1)
    task_start_answering(task_id=task.pk)  # what the chat app's "Finish" does
    page = flow.home()
    assert step_of(page) == StepKind.ANSWER
    assert 'id="answer-form"' in page.content.decode()
    flow.post("answer", flow.answer_data(), position=1)
    assert flow.participant.tasks.get(position=2).status == Task.Status.ACTIVE


def test_the_llm_task_page_includes_the_chat(llm_study, client):
    require(chat_partial_exists(), "templates/chat/_chat.html is not written yet")
    flow = enter(client, llm_study)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    page = flow.home()
    assert step_of(page) == StepKind.CHAT
    assert "chat/_chat.html" in templates(page)
    assert page.context["conversation_is_scripted"] is True
    content = page.content.decode()
    assert 'id="scenario-panel"' in content
    assert "secret-model-arm" not in content
    assert "scripted-demo" not in content  # the model name is never shown


def test_the_chat_step_is_the_step_for_an_active_llm_task(llm_study, client):

    flow = enter(client, llm_study)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    step = participant_current_step(flow.refresh())
    assert step.kind == StepKind.CHAT
    assert (step.task.position, step.task_count) == (1, 2)


def test_last_seen_is_recorded(consented):
    Participant.objects.filter(pk=consented.participant.pk).update(last_seen_at=None)
    consented.home()
    assert consented.refresh().last_seen_at is not None


def test_a_consented_participant_without_tasks_gets_no_code(control_study):

    participant = make_participant(
        control_study,
        status=Participant.Status.CONSENTED,
        arm=control_study.arms.get(),
        instructions_read_at=timezone.now(),
    )
    assert participant_current_step(participant).kind == StepKind.ENDED


@pytest.mark.parametrize(
    "status",
    [
        Participant.Status.WITHDRAWN,
        Participant.Status.TIMED_OUT,
        Participant.Status.RETURNED,
        Participant.Status.SCREENED_OUT,
    ],
)
def test_an_ended_session_says_so_and_refuses_steps(consented, status):
    Participant.objects.filter(pk=consented.participant.pk).update(status=status)
    page = consented.home()
    assert "participation/ended.html" in templates(page)
    assert "DONE1234" not in page.content.decode()
    response = consented.client.post(
        consented.url("sources", position=1), {"sources_text": "NHS"}, follow=True
    )
    assert "already ended" in response.content.decode()
    assert consented.participant.tasks.get(position=1).status == Task.Status.ACTIVE
