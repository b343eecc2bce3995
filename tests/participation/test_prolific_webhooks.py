"""Prolific's webhooks: only signed, recent requests change anything; a submission's
status change reclaims the place like a sync does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from django.test import Client
from django.urls import reverse

from studyapp.participation.models import Participant
from studyapp.participation.prolific_webhooks import signature_is_valid
from tests.factories import make_control_arm, make_participant, make_scenario, make_study
from tests.participation.prolific_support import PROLIFIC_STUDY, pid, prolific_in_use

SECRET = "workspace-hook-secret"
S = Participant.Status


@pytest.fixture
def prolific(db, settings, monkeypatch):
    settings.PROLIFIC_WEBHOOK_SECRET = SECRET
    return prolific_in_use(settings, monkeypatch)


@pytest.fixture
def participant(db):
    study = make_study("on-prolific", prolific_study_id=PROLIFIC_STUDY)
    make_scenario(study, "s1")
    make_control_arm(study)
    return make_participant(study, prolific_pid=pid(1), status=S.CONSENTED)


def post(body: bytes, headers: dict[str, str]):
    return Client().post(
        reverse("prolific:webhook"),
        body,
        content_type="application/json",
        headers=headers,
    )


def test_a_signed_return_reclaims_the_place(prolific, participant):
    sub = prolific.add_submission(
        study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED"
    )
    response = post(*prolific.hook_request(SECRET, sub.id))
    assert response.status_code == 200
    assert response.json() == {"event_type": "submission.status.change", "applied": 1}
    participant.refresh_from_db()
    assert participant.status == S.RETURNED
    assert participant.prolific_session_id == sub.id
    # Delivered again (Prolific retries): nothing more happens.
    assert post(*prolific.hook_request(SECRET, sub.id)).json()["applied"] == 0


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"RETURNED", b"TIMED-OUT"), headers),
        lambda body, headers: (body, {**headers, "X-Prolific-Request-Timestamp": "1"}),
        lambda body, headers: (
            body,
            {"X-Prolific-Request-Timestamp": headers["X-Prolific-Request-Timestamp"]},
        ),
    ],
    ids=["edited-body", "other-timestamp", "no-signature"],
)
def test_an_unsigned_or_altered_request_changes_nothing(prolific, participant, tamper):
    sub = prolific.add_submission(
        study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED"
    )
    assert post(*tamper(*prolific.hook_request(SECRET, sub.id))).status_code == 403
    participant.refresh_from_db()
    assert participant.status == S.CONSENTED


def test_another_secret_and_an_old_request_are_refused(prolific, participant):
    sub = prolific.add_submission(
        study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED"
    )
    assert post(*prolific.hook_request("another-secret", sub.id)).status_code == 403
    old = prolific.hook_request(SECRET, sub.id, timestamp=time.time() - 3600)
    assert post(*old).status_code == 403


def test_without_a_configured_secret_every_hook_is_refused(prolific, participant, settings):
    settings.PROLIFIC_WEBHOOK_SECRET = ""
    sub = prolific.add_submission(
        study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED"
    )
    assert post(*prolific.hook_request("", sub.id)).status_code == 403


def test_other_events_are_acknowledged_and_ignored(prolific, participant):
    sub = prolific.add_submission(
        study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED"
    )
    body, headers = prolific.hook_request(SECRET, sub.id, event_type="study.status.change")
    assert post(body, headers).json() == {"event_type": "study.status.change", "applied": 0}
    participant.refresh_from_db()
    assert participant.status == S.CONSENTED


def test_the_signature_check_follows_prolifics_recipe():
    # base64(HMAC-SHA256(secret, timestamp + body)), computed here independently.
    body, stamp = b'{"a": 1}', str(int(time.time()))
    given = base64.b64encode(
        hmac.new(b"s3cret", stamp.encode() + body, hashlib.sha256).digest()
    ).decode()
    assert signature_is_valid(secret="s3cret", timestamp=stamp, body=body, given=given)
    assert not signature_is_valid(secret="s3cret", timestamp=stamp, body=body + b" ", given=given)
    assert not signature_is_valid(secret="s3cret", timestamp="soon", body=body, given=given)
