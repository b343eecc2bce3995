"""A paused study (studies.pausing) holds new entrants at the door with a friendly page,
creating nobody and using no allocation slot; whoever is already inside carries on; a
resume lets new entrants in again."""

from __future__ import annotations

from django.test import Client

from studyapp.analysis.consort import study_consort
from studyapp.participation.models import Allocation, AllocationState, Participant
from studyapp.studies.models import Study
from studyapp.studies.pausing import study_pause, study_resume
from tests.factories import make_user
from tests.participation.conftest import enter, entry_url

PROLIFIC = {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "st-1", "SESSION_ID": "s1"}


def pause(study: Study) -> None:
    study_pause(study_id=study.pk, user=make_user("owner"))
    study.refresh_from_db()


def used_slots(study: Study) -> int:
    state = AllocationState.objects.filter(study=study).first()
    return state.last_sequence if state else 0


def test_a_new_entrant_is_held_at_the_door(control_study, client):
    enter(Client(), control_study).post("consent", {"agree": "1"})  # someone inside, allocated
    before = (Participant.objects.count(), Allocation.objects.count(), used_slots(control_study))
    pause(control_study)
    for response in (
        client.get(entry_url(control_study), PROLIFIC),
        client.post(entry_url(control_study), PROLIFIC),
    ):
        assert response.status_code == 200
        assert response.templates[0].name == "participation/paused.html"
        html = response.content.decode()
        assert "This study is paused for a little while" in html
        assert "Please come back to this link later." in html
    after = (Participant.objects.count(), Allocation.objects.count(), used_slots(control_study))
    assert after == before == (1, 1, 1)
    assert study_consort(study=control_study).assessed == 1


def test_the_holding_page_mentions_returning_on_prolific_for_a_prolific_study(
    control_study, client
):
    control_study.prolific_study_id = "st-1"
    control_study.save()
    pause(control_study)
    html = client.get(entry_url(control_study), PROLIFIC).content.decode()
    assert 'id="paused-prolific"' in html and "return the study on Prolific" in html


def test_the_holding_page_speaks_the_participants_language(control_study, client):
    control_study.languages = ["en", "de"]
    control_study.save()
    pause(control_study)
    response = client.get(entry_url(control_study), {**PROLIFIC, "lang": "de"})
    assert response["Content-Language"] == "de"
    html = response.content.decode()
    assert "This study is paused" not in html
    assert "pausiert" in html


def test_someone_already_inside_carries_on(control_study):
    started = enter(Client(), control_study, **PROLIFIC)  # opened the link, not consented
    allocated = enter(Client(), control_study)
    allocated.post("consent", {"agree": "1"})
    pause(control_study)
    # Consent (and with it allocation) still works for someone who entered before.
    assert started.post("consent", {"agree": "1"}).status_code == 302
    assert started.refresh().arm_id is not None
    assert allocated.post("instructions").status_code == 302
    assert allocated.refresh().instructions_read_at is not None
    # Their entry link takes them back to where they were, not to the holding page.
    response = started.client.post(entry_url(control_study), PROLIFIC)
    assert response.status_code == 302 and started.token in response["Location"]
    assert used_slots(control_study) == 2


def test_a_resume_lets_new_entrants_in(control_study, client):
    pause(control_study)
    assert client.post(entry_url(control_study), PROLIFIC).status_code == 200
    assert not Participant.objects.exists()
    study_resume(study_id=control_study.pk, user=make_user("owner2"))
    flow = enter(client, control_study, **PROLIFIC)
    assert flow.participant.prolific_pid == PROLIFIC["PROLIFIC_PID"]
    assert study_consort(study=control_study).assessed == 1
