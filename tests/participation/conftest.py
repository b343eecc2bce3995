"""A live study with three scenarios; participants see two."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from studyapp.participation.access import participant_get_by_token
from studyapp.participation.models import Participant
from studyapp.studies.models import Arm, Study
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_scenario,
    make_study,
)


@dataclass
class Flow:
    """Drives one browser through the participant flow."""

    client: Client
    participant: Participant

    @property
    def token(self) -> str:
        return self.participant.token

    def url(self, name: str, **kwargs) -> str:
        return reverse(f"participation:{name}", kwargs={"token": self.token, **kwargs})

    def home(self):
        return self.client.get(self.url("home"))

    def post(self, name: str, data: dict | None = None, **kwargs):
        return self.client.post(self.url(name, **kwargs), data or {})

    def refresh(self) -> Participant:
        self.participant.refresh_from_db()
        return self.participant

    def answer_data(self, *, level_code: str = "ae", **overrides) -> dict:
        level = self.participant.study.disposition_scale.levels.get(code=level_code)
        data = {"disposition": level.pk, "conditions_text": "appendicitis", "confidence": 70}
        data.update(overrides)
        return data


def entry_url(study: Study) -> str:
    return reverse("participation:entry", kwargs={"slug": study.slug})


def enter(client: Client, study: Study, **params) -> Flow:
    """Open the study link and press Start, as a browser does: the GET shows the start page
    (or goes straight back to a participant this browser holds), its form POSTs the link's
    parameters."""
    response = client.get(entry_url(study), params)
    if response.status_code == 200:
        assert "participation/start.html" in [t.name for t in response.templates]
        data = dict(response.context["fields"])
        if response.context["languages"]:
            # The chooser's radios, the link's language checked.
            data["lang"] = response.context["language"]
        response = client.post(entry_url(study), data)
    assert response.status_code == 302, response.status_code
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    return Flow(client=client, participant=participant_get_by_token(token))


@pytest.fixture
def control_study(db) -> Study:
    study = make_study("control-study", completion_code="DONE1234")
    for key in ("alpha", "beta", "gamma"):
        make_scenario(study, key)
    make_control_arm(study, participant_label="Your own sources")
    return study


@pytest.fixture
def llm_study(db) -> Study:
    study = make_study("llm-study")
    for key in ("alpha", "beta"):
        make_scenario(study, key)
    make_llm_arm(study, make_endpoint(), key="secret-model-arm", participant_label="AI assistant")
    return study


@pytest.fixture
def consented(control_study: Study, client: Client) -> Flow:
    """A control-arm participant past consent and instructions, on task 1."""
    flow = enter(client, control_study)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    assert flow.refresh().arm.kind == Arm.Kind.CONTROL
    return flow
