"""Screening before allocation (eligibility, strata) and the attention check after the
instructions."""

from __future__ import annotations

import pytest
from django.test import Client

from studyapp.participation.models import Allocation, Participant
from studyapp.participation.services import FlowError, participant_answer_check
from studyapp.studies.models import Study
from tests.factories import make_control_arm, make_scenario, make_study
from tests.participation.conftest import enter

SCREENING = [
    {"value": "uk", "label": "I live in the UK", "eligible": True},
    {"value": "ie", "label": "I live in Ireland", "eligible": True},
    {"value": "other", "label": "Elsewhere", "eligible": False},
]


@pytest.fixture
def screened_study(db) -> Study:
    study = make_study(
        "screened",
        screening_question="Where do you live?",
        screening_options=SCREENING,
        allocation_method=Study.AllocationMethod.STRATIFIED_BLOCKS,
        stratum_source=Study.StratumSource.SCREENING,
        completion_url="https://app.prolific.com/submissions/complete",
        code_screened_out="NOTFOR01",
    )
    for key in ("alpha", "beta"):
        make_scenario(study, key)
    make_control_arm(study, key="a")
    make_control_arm(study, key="b")
    return study


@pytest.fixture
def checked_study(control_study) -> Study:
    control_study.check_question = "To show you read the instructions, choose 'Purple'."
    control_study.check_options = ["Red", "Purple", "Green"]
    control_study.check_answer = "Purple"
    control_study.check_attempts = 2
    control_study.code_failed_check = "CHECK001"
    control_study.completion_url = "https://app.prolific.com/submissions/complete"
    control_study.save()
    return control_study


def test_screening_comes_after_consent_and_before_allocation(screened_study, client):
    flow = enter(client, screened_study)
    flow.post("consent", {"agree": "1"})
    participant = flow.refresh()
    assert participant.status == Participant.Status.CONSENTED and participant.arm is None
    page = flow.home().content.decode()
    assert "Where do you live?" in page
    assert "eligible" not in page  # eligibility is not sent to the browser
    flow.post("screening", {"answer": "ie"})
    participant = flow.refresh()
    assert participant.arm is not None
    assert participant.stratum == "ie" and participant.screening_answer == "ie"
    assert Allocation.objects.get(participant=participant).stratum == "ie"


def test_an_ineligible_answer_screens_out_with_its_code(screened_study, client):
    flow = enter(client, screened_study)
    flow.post("consent", {"agree": "1"})
    flow.post("screening", {"answer": "other"})
    participant = flow.refresh()
    assert participant.status == Participant.Status.SCREENED_OUT
    assert participant.arm is None
    assert not Allocation.objects.exists()
    content = flow.home().content.decode()
    assert "not a match for you" in content
    assert "complete?cc=NOTFOR01" in content


def test_an_unknown_screening_answer_is_asked_again(screened_study, client):
    flow = enter(client, screened_study)
    flow.post("consent", {"agree": "1"})
    response = flow.post("screening", {"answer": "mars"})
    assert response.status_code == 200
    assert "Please choose one of the options." in response.content.decode()
    assert flow.refresh().arm is None


def test_strata_come_from_an_entry_parameter_when_configured(control_study, client):
    control_study.allocation_method = Study.AllocationMethod.STRATIFIED_BLOCKS
    control_study.stratum_parameter = "site"
    control_study.stratum_values = ["leeds", "york"]
    control_study.save()
    leeds = enter(client, control_study, site="leeds")
    unknown = enter(Client(), control_study, site="<b>")
    listed_not = enter(Client(), control_study, site="paris")
    for flow in (leeds, unknown, listed_not):
        flow.post("consent", {"agree": "1"})
    strata = dict(Allocation.objects.values_list("participant_id", "stratum"))
    assert strata[leeds.participant.pk] == "leeds"
    assert strata[unknown.participant.pk] == strata[listed_not.participant.pk] == ""


def test_the_check_comes_after_the_instructions_and_gates_the_tasks(checked_study, client):
    flow = enter(client, checked_study)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    page = flow.home().content.decode()
    assert "choose &#x27;Purple&#x27;" in page
    # The task cannot be done before the check.
    flow.post("sources", {"sources_text": "NHS"}, position=1)
    assert flow.participant.tasks.get(position=1).sources_text == ""
    flow.post("check", {"answer": "Purple"})
    participant = flow.refresh()
    assert participant.check_passed_at is not None
    assert "began" in participant.events.values_list("kind", flat=True)
    flow.post("sources", {"sources_text": "NHS"}, position=1)
    assert flow.participant.tasks.get(position=1).sources_text == "NHS"


def test_a_wrong_answer_allows_the_configured_retries_then_ends(checked_study, client):
    flow = enter(client, checked_study)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    response = flow.client.post(flow.url("check"), {"answer": "Red"}, follow=True)
    assert "not the answer we were looking for" in response.content.decode()
    assert flow.refresh().status == Participant.Status.CONSENTED
    flow.post("check", {"answer": "Green"})
    participant = flow.refresh()
    assert participant.status == Participant.Status.FAILED_CHECK
    assert participant.check_failures == 2
    content = flow.home().content.decode()
    assert "check question" in content
    assert "complete?cc=CHECK001" in content
    assert "began" not in participant.events.values_list("kind", flat=True)


def test_the_check_cannot_be_answered_before_the_instructions(checked_study, client):
    flow = enter(client, checked_study)
    flow.post("consent", {"agree": "1"})
    with pytest.raises(FlowError):
        participant_answer_check(participant_id=flow.participant.pk, answer="Purple")
