from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studyapp.participation.access import session_holds_token
from studyapp.participation.models import Answer, Task
from tests.participation.conftest import enter


@pytest.mark.parametrize("token", ["forged-token", "x" * 65, "0"])
def test_a_forged_token_is_404_everywhere(consented, token):
    client = Client()
    assert client.get(reverse("participation:home", kwargs={"token": token})).status_code == 404
    for name in ("consent", "instructions"):
        url = reverse(f"participation:{name}", kwargs={"token": token})
        assert client.post(url, {"agree": "1"}).status_code == 404
    for name in ("sources", "answer"):
        url = reverse(f"participation:{name}", kwargs={"token": token, "position": 1})
        assert client.post(url, {"sources_text": "x"}).status_code == 404


def test_a_position_the_participant_does_not_have_is_404(consented):
    assert consented.post("sources", {"sources_text": "x"}, position=3).status_code == 404
    assert consented.post("answer", consented.answer_data(), position=0).status_code == 404


def test_one_participants_link_only_ever_reaches_their_own_tasks(control_study, consented):
    other = enter(Client(), control_study)
    other.post("consent", {"agree": "1"})
    other.post("instructions")
    other.post("sources", {"sources_text": "mine"}, position=1)
    mine = consented.home().context["task"]
    assert mine.participant_id == consented.participant.pk

    # Their positions addressed through my token act on my tasks, never theirs.
    consented.post("sources", {"sources_text": "NHS website"}, position=1)
    consented.post("answer", consented.answer_data(), position=1)
    their_task = other.participant.tasks.get(position=1)
    assert their_task.status == Task.Status.ANSWERING
    assert their_task.sources_text == "mine"
    assert not Answer.objects.filter(task=their_task).exists()


def test_the_token_in_the_url_binds_the_browser(consented):
    fresh = Client()
    fresh.get(reverse("participation:home", kwargs={"token": consented.token}))
    assert session_holds_token(fresh.session, consented.token)


def test_home_rejects_post(consented):
    assert consented.client.post(consented.url("home")).status_code == 405


def test_actions_reject_get(consented):
    assert consented.client.get(consented.url("consent")).status_code == 405
    assert consented.client.get(consented.url("answer", position=1)).status_code == 405
