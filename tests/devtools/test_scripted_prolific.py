"""The scripted Prolific API keeps to the rules of Prolific's published API that the
product relies on, so a client bug shows here rather than on the real service."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from studyapp.devtools.scripted_prolific import LABEL, LABEL_HEADER, ScriptedProlificThread

STUDY = "64f0aa11bb22cc33dd44ee55"
REASON = "x" * 100


@pytest.fixture(scope="module")
def server():
    with ScriptedProlificThread(page_size=2) as running:
        yield running


@pytest.fixture
def api(server):
    server.reset()

    def call(method: str, path: str, body=None, token: str | None = None):
        request = urllib.request.Request(
            server.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Token {token or server.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read()), response.headers
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read()), exc.headers

    return call


def test_every_answer_says_it_is_a_stand_in(api, server):
    status, _, headers = api("GET", f"/api/v1/studies/{STUDY}/submissions/")
    assert status == 200 and headers[LABEL_HEADER] == LABEL
    status, body, headers = api("GET", f"/api/v1/studies/{STUDY}/submissions/", token="wrong")
    assert status == 401 and headers[LABEL_HEADER] == LABEL and "detail" in body["error"]


def test_only_a_submission_awaiting_review_moves_and_a_repeat_is_ignored(api, server):
    active = server.add_submission(study_id=STUDY, participant_id="p1")
    waiting = server.add_submission(study_id=STUDY, participant_id="p2", status="AWAITING REVIEW")
    path = "/api/v1/submissions/{}/transition/"
    assert api("POST", path.format(active.id), {"action": "APPROVE"})[0] == 400
    assert api("POST", path.format(waiting.id), {"action": "APPROVE"})[1]["status"] == "APPROVED"
    assert api("POST", path.format(waiting.id), {"action": "APPROVE"})[0] == 200  # idempotent
    assert api("POST", path.format(waiting.id), {"action": "REJECT"})[0] == 400


def test_a_rejection_needs_a_category_and_100_characters(api, server):
    sub = server.add_submission(study_id=STUDY, participant_id="p1", status="AWAITING REVIEW")
    path = f"/api/v1/submissions/{sub.id}/transition/"
    short = {"action": "REJECT", "rejection_category": "LOW_EFFORT", "message": REASON[:99]}
    assert api("POST", path, short)[0] == 400
    assert api("POST", path, {"action": "REJECT", "message": REASON})[0] == 400
    ok = {"action": "REJECT", "rejection_category": "LOW_EFFORT", "message": REASON}
    assert api("POST", path, ok)[1]["status"] == "REJECTED"


def test_bulk_approve_by_submissions_or_by_participants(api, server):
    a, b, c = (
        server.add_submission(study_id=STUDY, participant_id=f"p{i}", status="AWAITING REVIEW")
        for i in range(3)
    )
    assert api("POST", "/api/v1/submissions/bulk-approve/", {"submission_ids": [a.id]})[0] == 200
    body = {"study_id": STUDY, "participant_ids": ["p1"]}
    assert api("POST", "/api/v1/submissions/bulk-approve/", body)[0] == 200
    assert [server.submission(s.id).status for s in (a, b, c)] == [
        "APPROVED",
        "APPROVED",
        "AWAITING REVIEW",
    ]


def test_a_bulk_bonus_is_paid_once_and_only_to_the_studys_participants(api, server):
    sub = server.add_submission(study_id=STUDY, participant_id="p1")
    body = {"study_id": STUDY, "csv_bonuses": "stranger,1.00\n"}
    assert api("POST", "/api/v1/submissions/bonus-payments/", body)[0] == 400
    body = {"study_id": STUDY, "csv_bonuses": f"{sub.id},1.50\n"}
    status, created, _ = api("POST", "/api/v1/submissions/bonus-payments/", body)
    assert status == 200 and created["total_amount"] == 150
    pay = f"/api/v1/bulk-bonus-payments/{created['id']}/pay/"
    assert api("POST", pay)[0] == 200
    assert api("POST", pay)[0] == 400  # a second pay would pay twice at Prolific
    assert server.submission(sub.id).bonus_payments == [150]
