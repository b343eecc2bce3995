from __future__ import annotations

import itertools

import pytest
from django.test import Client
from django.urls import reverse

from studyapp.analysis.consort import study_consort
from studyapp.participation.access import session_holds_token, session_link_ids
from studyapp.participation.models import Participant, ParticipantEvent
from studyapp.studies.models import Study
from tests.factories import make_study
from tests.participation.conftest import enter, entry_url

PID = "5f1a2b3c4d5e6f7a8b9c0d1e"
PROLIFIC = {"PROLIFIC_PID": PID, "STUDY_ID": "st-1", "SESSION_ID": "se-1"}


# --- Opening the link counts nobody; pressing Start does ------------------------------


def test_opening_the_link_creates_nobody(control_study, client):
    for _ in range(3):  # a link preview, a mail scanner, the participant
        response = client.get(entry_url(control_study), PROLIFIC)
        assert response.status_code == 200
        assert "participation/start.html" in [t.name for t in response.templates]
    assert not Participant.objects.exists()
    assert not ParticipantEvent.objects.exists()
    assert session_link_ids(client.session) == []
    assert study_consort(study=control_study).assessed == 0


def test_the_start_page_carries_the_link_parameters_to_its_post(control_study, client):
    control_study.stratum_parameter = "site"
    control_study.save()
    html = client.get(entry_url(control_study), {**PROLIFIC, "site": "uk", "other": "x"})
    page = html.content.decode()
    assert f'<form method="post" action="{entry_url(control_study)}"' in page
    for name, value in [*PROLIFIC.items(), ("site", "uk")]:
        assert f'<input type="hidden" name="{name}" value="{value}">' in page
    assert 'name="other"' not in page
    assert ">Start</button>" in page


def test_pressing_start_enters_once_and_counts_once(control_study, client):
    response = client.post(entry_url(control_study), PROLIFIC)
    assert response.status_code == 302
    participant = Participant.objects.get()
    assert (participant.prolific_pid, participant.prolific_session_id) == (PID, "se-1")
    assert study_consort(study=control_study).assessed == 1
    # Pressed again (a double click, the back button): the same participant.
    assert client.post(entry_url(control_study), PROLIFIC)["Location"] == response["Location"]
    assert study_consort(study=control_study).assessed == 1


def test_the_post_needs_the_pages_csrf_token(control_study):
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(entry_url(control_study), PROLIFIC).status_code == 403
    assert not Participant.objects.exists()
    page = browser.get(entry_url(control_study), PROLIFIC)
    token = page.context["csrf_token"]
    data = {**PROLIFIC, "csrfmiddlewaretoken": str(token)}
    assert browser.post(entry_url(control_study), data).status_code == 302


def test_a_browser_holding_the_participant_goes_straight_back(control_study, client):
    flow = enter(client, control_study, **PROLIFIC)
    response = client.get(entry_url(control_study), PROLIFIC)
    assert response.status_code == 302
    assert response["Location"] == flow.url("home")


def test_a_known_pid_in_a_new_browser_is_asked_to_continue(control_study, client):
    first = enter(client, control_study, PROLIFIC_PID=PID)
    other = Client()
    page = other.get(entry_url(control_study), {"PROLIFIC_PID": PID})
    assert page.status_code == 200 and ">Continue</button>" in page.content.decode()
    assert not session_holds_token(other.session, first.token)  # the GET bound nothing
    response = other.post(entry_url(control_study), {"PROLIFIC_PID": PID})
    assert response["Location"] == first.url("home")
    assert Participant.objects.count() == 1


def test_entry_refuses_other_methods(control_study, client):
    assert client.put(entry_url(control_study)).status_code == 405


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


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("param", ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID"])
def test_it_refuses_malformed_parameters_with_a_clear_400(control_study, client, param, method):
    response = getattr(client, method)(entry_url(control_study), {param: "{{%PROLIFIC_PID%}}"})
    assert response.status_code == 400
    assert "participation/bad_request.html" in [t.name for t in response.templates]
    assert param in response.content.decode()
    assert "{{%PROLIFIC_PID%}}" not in response.content.decode()
    assert not Participant.objects.exists()


def test_it_404s_for_an_unknown_study(db, client):
    response = client.get(reverse("participation:entry", kwargs={"slug": "no-such-study"}))
    assert response.status_code == 404


# A paused study has its own holding page (tests/participation/test_paused.py).
@pytest.mark.parametrize("status", [Study.Status.CLOSED, Study.Status.DRAFT])
def test_it_says_politely_that_a_study_is_not_open(db, client, status):
    study = make_study("not-live", status=status)
    # Before anyone presses Start, and if they press it all the same (the page was open).
    for method in (client.get, client.post):
        response = method(entry_url(study), {"PROLIFIC_PID": PID})
        assert response.status_code == 200
        assert "not open" in response.content.decode()
    assert not Participant.objects.exists()


def test_a_known_participant_resumes_after_the_study_is_paused(control_study, client):
    first = enter(client, control_study, PROLIFIC_PID=PID)
    control_study.status = Study.Status.PAUSED
    control_study.save()
    again = enter(Client(), control_study, PROLIFIC_PID=PID)
    assert again.participant.pk == first.participant.pk


# --- A PID is no password: resuming in a new browser ----------------------------------


def began(client: Client, study: Study, **params):
    flow = enter(client, study, **params)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    assert flow.refresh().instructions_read_at is not None
    return flow


def test_a_pid_alone_does_not_open_a_participant_who_began_in_a_new_browser(control_study, client):
    flow = began(client, control_study, PROLIFIC_PID=PID, SESSION_ID="se-1")
    stranger = Client()
    for params, method in itertools.product(
        ({"PROLIFIC_PID": PID}, {"PROLIFIC_PID": PID, "SESSION_ID": "guessed"}),
        (stranger.get, stranger.post),
    ):
        response = method(entry_url(control_study), params)
        assert response.status_code == 403
        assert "participation/resume_elsewhere.html" in [t.name for t in response.templates]
        assert "go back to the browser" in response.content.decode()
        assert flow.token not in response.content.decode()
    assert not session_holds_token(stranger.session, flow.token)
    # So it cannot withdraw them (which would delete their data) either.
    assert Participant.objects.filter(pk=flow.participant.pk).exists()


def test_the_session_id_from_prolific_resumes_them_on_another_device(control_study, client):
    flow = began(client, control_study, PROLIFIC_PID=PID, SESSION_ID="se-1")
    other = enter(Client(), control_study, PROLIFIC_PID=PID, SESSION_ID="se-1")
    assert other.participant.pk == flow.participant.pk
    assert other.home().status_code == 200


def test_the_browser_they_started_in_always_resumes_them(control_study, client):
    flow = began(client, control_study, PROLIFIC_PID=PID, SESSION_ID="se-1")
    again = enter(client, control_study, PROLIFIC_PID=PID)
    assert again.participant.pk == flow.participant.pk
    assert enter(client, control_study).participant.pk == flow.participant.pk


def test_without_a_stored_session_id_only_their_browser_resumes_them(control_study, client):
    began(client, control_study, PROLIFIC_PID=PID)
    response = Client().post(entry_url(control_study), {"PROLIFIC_PID": PID, "SESSION_ID": "x"})
    assert response.status_code == 403


# --- Studies recruited on Prolific ------------------------------------------------------


@pytest.fixture
def prolific_study(control_study):
    control_study.prolific_study_id = "60aa1b2c3d4e5f6a7b8c9d0e"
    control_study.save()
    return control_study


def test_a_prolific_study_enrols_links_with_its_study_id(prolific_study, client):
    flow = enter(
        client, prolific_study, PROLIFIC_PID=PID, STUDY_ID=prolific_study.prolific_study_id
    )
    assert flow.participant.prolific_pid == PID


def test_a_prolific_study_turns_away_a_link_without_a_pid(prolific_study, client):
    for params, method in itertools.product(
        ({}, {"STUDY_ID": prolific_study.prolific_study_id}), (client.get, client.post)
    ):
        response = method(entry_url(prolific_study), params)
        assert response.status_code == 400
        assert "Please open this study from Prolific" in response.content.decode()
    assert not Participant.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("study_id", ["", "60aa1b2c3d4e5f6a7b8c9dff"])
def test_a_prolific_study_turns_away_another_study_id(prolific_study, client, study_id, method):
    params = {"PROLIFIC_PID": PID, "STUDY_ID": study_id}
    response = getattr(client, method)(entry_url(prolific_study), params)
    assert response.status_code == 403
    assert "Please open this study from Prolific" in response.content.decode()
    assert not Participant.objects.exists()


def test_in_a_prolific_study_their_own_browser_resumes_without_parameters(prolific_study, client):
    flow = enter(
        client, prolific_study, PROLIFIC_PID=PID, STUDY_ID=prolific_study.prolific_study_id
    )
    assert enter(client, prolific_study).participant.pk == flow.participant.pk
