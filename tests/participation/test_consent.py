from __future__ import annotations

import pytest

from studyapp.participation.models import Participant, Task
from studyapp.participation.services import FlowError, participant_consent
from studyapp.studies.models import Arm
from tests.factories import make_control_arm, make_participant, make_scenario, make_study
from tests.participation.conftest import enter


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def test_it_shows_consent_first(control_study, client):
    flow = enter(client, control_study)
    response = flow.home()
    assert "participation/consent.html" in templates(response)
    assert control_study.consent_text in response.content.decode()


def test_agreeing_allocates_an_arm_and_assigns_distinct_tasks(control_study, client):
    flow = enter(client, control_study)
    response = flow.post("consent", {"agree": "1"})
    assert response.status_code == 302
    participant = flow.refresh()
    assert participant.status == Participant.Status.CONSENTED
    assert participant.consented_at is not None
    assert participant.arm.study == control_study
    tasks = list(participant.tasks.order_by("position"))
    assert [t.position for t in tasks] == [1, 2]
    assert len({t.scenario_id for t in tasks}) == 2
    assert [t.status for t in tasks] == [Task.Status.ACTIVE, Task.Status.PENDING]
    assert tasks[0].started_at is not None


def test_a_double_consent_allocates_once(control_study, client):
    make_control_arm(control_study, key="control-b")
    flow = enter(client, control_study)
    flow.post("consent", {"agree": "1"})
    arm = flow.refresh().arm
    scenarios = list(flow.participant.tasks.values_list("scenario_id", flat=True))
    for _ in range(5):
        assert flow.post("consent", {"agree": "1"}).status_code == 302
    assert flow.refresh().arm == arm
    assert list(flow.participant.tasks.values_list("scenario_id", flat=True)) == scenarios


def test_allocation_follows_the_arm_weights_exactly_in_complete_blocks(db):
    study = make_study("weighted", allocation_block_sizes=[10])
    make_scenario(study, "one")
    make_scenario(study, "two")
    light = make_control_arm(study, key="light", weight=1)
    heavy = make_control_arm(study, key="heavy", weight=9)
    arms = [participant_consent(participant_id=make_participant(study).pk).arm for _ in range(200)]
    assert arms.count(heavy) == 180
    assert arms.count(light) == 20


def test_it_refuses_to_start_a_study_without_enough_scenarios(db, client):
    study = make_study("thin")
    make_scenario(study, "only-one")
    make_control_arm(study)
    flow = enter(client, study)
    response = flow.post("consent", {"agree": "1"})
    assert response.status_code == 302
    assert flow.refresh().status == Participant.Status.STARTED
    page = flow.home()
    assert "not ready" in page.content.decode()
    assert "participation/consent.html" in templates(page)


def test_declining_ends_politely(control_study, client):
    control_study.completion_url = "https://app.prolific.com/submissions/complete"
    control_study.code_screened_out = "NOCONS"
    control_study.save()
    flow = enter(client, control_study)
    flow.post("consent", {"decline": "1"})
    participant = flow.refresh()
    assert participant.status == Participant.Status.CONSENT_DECLINED
    assert participant.arm is None
    assert not participant.tasks.exists()
    page = flow.home()
    assert "participation/declined.html" in templates(page)
    assert "you have not joined the study" in page.content.decode()
    assert f"{control_study.completion_url}?cc=NOCONS" in page.content.decode()
    assert 'id="completion-code">NOCONS<' in page.content.decode()


def test_agreeing_after_declining_is_refused(control_study, client):
    flow = enter(client, control_study)
    flow.post("consent", {"decline": "1"})
    response = flow.client.post(flow.url("consent"), {"agree": "1"}, follow=True)
    assert "chose not to take part" in response.content.decode()
    assert flow.refresh().status == Participant.Status.CONSENT_DECLINED
    assert flow.participant.arm is None


def test_declining_after_agreeing_is_refused(control_study, client):
    flow = enter(client, control_study)
    flow.post("consent", {"agree": "1"})
    response = flow.client.post(flow.url("consent"), {"decline": "1"}, follow=True)
    assert "already agreed" in response.content.decode()
    assert flow.refresh().status == Participant.Status.CONSENTED


def test_a_consent_post_without_a_choice_asks_again(control_study, client):
    flow = enter(client, control_study)
    response = flow.client.post(flow.url("consent"), {}, follow=True)
    assert "Please choose" in response.content.decode()
    assert flow.refresh().status == Participant.Status.STARTED


def test_instructions_come_after_consent(control_study, client):
    flow = enter(client, control_study)
    response = flow.client.post(flow.url("instructions"), follow=True)
    assert "consent question first" in response.content.decode()
    assert flow.refresh().instructions_read_at is None

    flow.post("consent", {"agree": "1"})
    page = flow.home()
    assert "participation/instructions.html" in templates(page)
    assert control_study.instructions_text in page.content.decode()
    flow.post("instructions")
    read_at = flow.refresh().instructions_read_at
    assert read_at is not None
    flow.post("instructions")
    assert flow.refresh().instructions_read_at == read_at


def test_llm_instructions_name_only_the_participant_label(llm_study, client):
    flow = enter(client, llm_study)
    flow.post("consent", {"agree": "1"})
    content = flow.home().content.decode()
    assert "AI assistant" in content
    assert "secret-model-arm" not in content
    assert "scripted-demo" not in content


def test_consent_service_refuses_an_ended_participant(control_study):
    participant = make_participant(control_study, status=Participant.Status.WITHDRAWN)
    with pytest.raises(FlowError):
        participant_consent(participant_id=participant.pk)
    assert not Arm.objects.filter(participants=participant).exists()
