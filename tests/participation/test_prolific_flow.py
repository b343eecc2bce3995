"""Prolific end to end: parameters, resume without re-randomising, a code per outcome."""

from __future__ import annotations

import pytest
from django.test import Client

from studyapp.participation.models import Allocation, Participant
from studyapp.participation.prolific import Outcome, outcome_exit
from tests.participation.conftest import enter

PID = "5f1a2b3c4d5e6f7a8b9c0d99"
COMPLETE = "https://app.prolific.com/submissions/complete"
CODES = {
    "completion_code": "DONE0001",
    "code_screened_out": "SCRN0001",
    "code_timed_out": "TIME0001",
    "code_failed_check": "CHCK0001",
    "code_study_full": "FULL0001",
}


def finish(flow) -> None:
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    for position in (1, 2):
        flow.post("sources", {"sources_text": "NHS website"}, position=position)
        flow.post("answer", flow.answer_data(), position=position)


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (Outcome.COMPLETED, "DONE0001"),
        (Outcome.SCREENED_OUT, "SCRN0001"),
        (Outcome.TIMED_OUT, "TIME0001"),
        (Outcome.FAILED_CHECK, "CHCK0001"),
        (Outcome.STUDY_FULL, "FULL0001"),
    ],
)
def test_each_outcome_has_its_own_code_and_return_url(outcome, code):
    exit_ = outcome_exit(outcome=outcome, codes=CODES, completion_url=COMPLETE)
    assert exit_.code == code
    assert exit_.url == f"{COMPLETE}?cc={code}"


def test_an_outcome_without_a_code_never_borrows_another_outcomes_code():
    codes = {"completion_code": "DONE0001"}
    pasted = f"{COMPLETE}?cc=DONE0001"
    timed_out = outcome_exit(outcome=Outcome.TIMED_OUT, codes=codes, completion_url=pasted)
    assert timed_out.code == "" and "DONE0001" not in timed_out.url
    # A completed participant with no code field set keeps the pasted URL as it is.
    done = outcome_exit(outcome=Outcome.COMPLETED, codes={}, completion_url=pasted)
    assert done.url == pasted
    assert outcome_exit(outcome=Outcome.WITHDRAWN, codes=codes, completion_url=pasted).url == ""
    assert outcome_exit(outcome=Outcome.COMPLETED, codes=codes, completion_url="").url == ""


def test_a_completed_prolific_participant_goes_back_with_the_completion_code(
    control_study, client
):
    control_study.completion_url = COMPLETE
    control_study.completion_code = "DONE0001"
    control_study.save()
    flow = enter(client, control_study, PROLIFIC_PID=PID, STUDY_ID="st-1", SESSION_ID="se-1")
    finish(flow)
    assert flow.refresh().status == Participant.Status.COMPLETED
    content = flow.home().content.decode()
    assert 'id="completion-code">DONE0001<' in content
    assert f'content="5;url={COMPLETE}?cc=DONE0001"' in content


def test_a_direct_link_without_prolific_parameters_takes_part_fully(control_study, client):
    flow = enter(client, control_study)
    assert flow.participant.prolific_pid == ""
    finish(flow)
    participant = flow.refresh()
    assert participant.status == Participant.Status.COMPLETED
    content = flow.home().content.decode()
    assert control_study.completion_code in content
    assert "http-equiv" not in content  # no completion URL: nowhere to send them


def test_the_same_pid_resumes_the_same_participant_everywhere_and_is_never_rerandomised(
    control_study, client
):
    first = enter(client, control_study, PROLIFIC_PID=PID, SESSION_ID="se-1")
    first.post("consent", {"agree": "1"})
    arm = first.refresh().arm_id
    for session in ("se-2", "se-3"):
        other_device = enter(Client(), control_study, PROLIFIC_PID=PID, SESSION_ID=session)
        assert other_device.participant.pk == first.participant.pk
        other_device.post("consent", {"agree": "1"})
    same_tab = enter(client, control_study, PROLIFIC_PID=PID)
    assert same_tab.participant.pk == first.participant.pk
    assert Participant.objects.filter(study=control_study).count() == 1
    assert Allocation.objects.filter(study=control_study).count() == 1
    assert first.refresh().arm_id == arm


def test_a_participant_who_finished_and_comes_back_sees_their_code_again(control_study, client):
    flow = enter(client, control_study, PROLIFIC_PID=PID, SESSION_ID="se-1")
    finish(flow)
    # From Prolific again (on any device): the same SESSION_ID comes with the PID.
    back = enter(Client(), control_study, PROLIFIC_PID=PID, SESSION_ID="se-1")
    assert back.participant.pk == flow.participant.pk
    assert control_study.completion_code in back.home().content.decode()
