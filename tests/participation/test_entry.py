from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studyapp.participation.access import session_holds_token
from studyapp.participation.models import Participant
from studyapp.studies.models import Study
from tests.factories import make_study
from tests.participation.conftest import enter

PID = "5f1a2b3c4d5e6f7a8b9c0d1e"


def entry_url(study: Study) -> str:
    return reverse("participation:entry", kwargs={"slug": study.slug})


def test_it_creates_a_participant_from_a_direct_link(control_study, client):
    flow = enter(client, control_study)
    participant = flow.participant
    assert participant.study == control_study
    assert participant.status == Participant.Status.STARTED
    assert participant.prolific_pid == ""
    assert participant.arm is None  # allocation waits for consent
    assert session_holds_token(client.session, participant.token)


def test_it_stores_the_prolific_parameters(control_study, client):
    flow = enter(client, control_study, PROLIFIC_PID=PID, STUDY_ID="st-1", SESSION_ID="se-1")
    participant = flow.participant
    assert (participant.prolific_pid, participant.prolific_study_id) == (PID, "st-1")
    assert participant.prolific_session_id == "se-1"


def test_it_resumes_the_same_pid_from_another_browser(control_study, client):
    first = enter(client, control_study, PROLIFIC_PID=PID)
    first.post("consent", {"agree": "1"})
    arm = first.refresh().arm
    tasks = list(first.participant.tasks.values_list("scenario_id", flat=True))

    again = enter(Client(), control_study, PROLIFIC_PID=PID, SESSION_ID="a-new-session")
    assert again.participant.pk == first.participant.pk
    assert again.refresh().arm == arm  # never re-randomised
    assert list(again.participant.tasks.values_list("scenario_id", flat=True)) == tasks
    assert Participant.objects.filter(study=control_study).count() == 1


def test_it_resumes_the_participant_this_browser_holds(control_study, client):
    first = enter(client, control_study)
    again = enter(client, control_study)
    assert again.participant.pk == first.participant.pk


def test_a_new_browser_without_pid_is_a_new_participant(control_study, client):
    first = enter(client, control_study)
    other = enter(Client(), control_study)
    assert other.participant.pk != first.participant.pk


def test_a_pid_link_does_not_resume_someone_elses_session_in_the_same_browser(
    control_study, client
):
    first = enter(client, control_study, PROLIFIC_PID=PID)
    other = enter(client, control_study, PROLIFIC_PID="another-pid")
    assert other.participant.pk != first.participant.pk


def test_the_same_pid_in_another_study_is_another_participant(control_study, client):
    other_study = make_study("other-study")
    first = enter(client, control_study, PROLIFIC_PID=PID)
    second = enter(client, other_study, PROLIFIC_PID=PID)
    assert first.participant.pk != second.participant.pk


@pytest.mark.parametrize("param", ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID"])
def test_it_refuses_malformed_parameters_with_a_clear_400(control_study, client, param):
    response = client.get(entry_url(control_study), {param: "{{%PROLIFIC_PID%}}"})
    assert response.status_code == 400
    assert "participation/bad_request.html" in [t.name for t in response.templates]
    assert param in response.content.decode()
    assert "{{%PROLIFIC_PID%}}" not in response.content.decode()
    assert not Participant.objects.exists()


def test_it_404s_for_an_unknown_study(db, client):
    response = client.get(reverse("participation:entry", kwargs={"slug": "no-such-study"}))
    assert response.status_code == 404


@pytest.mark.parametrize("status", [Study.Status.PAUSED, Study.Status.CLOSED, Study.Status.DRAFT])
def test_it_says_politely_that_a_study_is_not_open(db, client, status):
    study = make_study("not-live", status=status)
    response = client.get(entry_url(study), {"PROLIFIC_PID": PID})
    assert response.status_code == 200
    assert "not open" in response.content.decode()
    assert not Participant.objects.exists()


def test_a_known_participant_resumes_after_the_study_is_paused(control_study, client):
    first = enter(client, control_study, PROLIFIC_PID=PID)
    control_study.status = Study.Status.PAUSED
    control_study.save()
    again = enter(Client(), control_study, PROLIFIC_PID=PID)
    assert again.participant.pk == first.participant.pk


def test_entry_rejects_post(control_study, client):
    assert client.post(entry_url(control_study)).status_code == 405
