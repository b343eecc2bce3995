"""Every API route over HTTP with the Bearer header: what each role gets, as on the pages."""

from __future__ import annotations

import csv
import io

from studyapp.audit.models import AuditEntry
from studyapp.evaluations.models import EvaluationRun
from studyapp.studies.roles import Role
from tests.api.conftest import token_for


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_studies_lists_the_users_studies_with_their_role(client, world):
    response = client.get("/api/studies", headers=world.auth("owner"))
    assert response.status_code == 200
    assert response.json() == [
        {"slug": "trial", "title": "Study trial", "status": "live", "role": "owner"}
    ]
    assert client.get("/api/studies", headers=world.auth("stranger")).json() == []


def test_study_shows_arms_and_scenarios_unblinded_to_the_owner(client, world):
    response = client.get("/api/studies/trial", headers=world.auth("owner"))
    assert response.status_code == 200
    data = response.json()
    assert data["blinded"] is False
    assert {a["key"] for a in data["arms"]} == {"gpt-arm", "control"}
    assert "secret-model-7b" in {a["model"] for a in data["arms"]}
    assert [s["key"] for s in data["scenarios"]] == ["s1", "s2"]
    assert "gold_conditions" not in data["scenarios"][0]
    assert "127.0.0.1" not in response.content.decode()  # no endpoint address


def test_study_shows_a_blinded_analyst_arms_by_letter_only(client, world):
    response = client.get("/api/studies/trial", headers=world.auth(Role.BLINDED_ANALYST))
    data = response.json()
    assert data["blinded"] is True
    assert sorted(a["letter"] for a in data["arms"]) == ["A", "B"]
    assert all(a["key"] is None and a["model"] is None for a in data["arms"])
    assert "gpt-arm" not in response.content.decode()
    assert "secret-model" not in response.content.decode()


def test_study_is_404_for_a_stranger_like_a_missing_one(client, world):
    assert client.get("/api/studies/trial", headers=world.auth("stranger")).status_code == 404
    assert client.get("/api/studies/nope", headers=world.auth("owner")).status_code == 404


def test_participants_are_paged_with_states_and_arms(client, world):
    response = client.get("/api/studies/trial/participants", headers=world.auth("owner"))
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 3
    assert [p["state"] for p in data["items"]] == ["opened", "allocated", "allocated"]
    assert [p["arm"] for p in data["items"]] == [None, "gpt-arm", "control"]
    page2 = client.get("/api/studies/trial/participants?page=2", headers=world.auth("owner"))
    assert page2.json()["items"] == []


def test_participants_pages_have_the_size_asked(client, world):
    url = "/api/studies/trial/participants?page_size=2"
    first = client.get(url, headers=world.auth("owner")).json()
    second = client.get(url + "&page=2", headers=world.auth("owner")).json()
    assert [len(first["items"]), len(second["items"])] == [2, 1]
    assert first["count"] == second["count"] == 3


def test_participants_are_blinded_for_a_blinded_analyst(client, world):
    response = client.get(
        "/api/studies/trial/participants", headers=world.auth(Role.BLINDED_ANALYST)
    )
    items = response.json()["items"]
    assert [p["arm"] for p in items] == [None, None, None]
    assert {p["arm_letter"] for p in items[1:]} == {"A", "B"}


def test_the_pilot_is_listed_and_exported_only_when_asked_for(client, world):
    from studyapp.participation.models import Participant
    from tests.factories import make_participant

    pilot = make_participant(world.study, status="consented", consented_at=world.study.created_at)
    Participant.objects.filter(pk=pilot.pk).update(is_pilot=True)
    owner = world.auth("owner")
    url = "/api/studies/trial/participants"
    main = client.get(url, headers=owner).json()
    assert main["count"] == 3 and pilot.pk not in [p["id"] for p in main["items"]]
    everyone = client.get(url + "?include_pilot=true", headers=owner).json()
    assert everyone["count"] == 4
    assert [p["is_pilot"] for p in everyone["items"] if p["id"] == pilot.pk] == [True]
    export = "/api/studies/trial/exports/participants"
    assert len(_csv(client.get(export, headers=owner))) == 1 + 3
    rows = _csv(client.get(export + "?include_pilot=true", headers=owner))
    assert len(rows) == 1 + 4 and "is_pilot" in rows[0]
    details = [e.detail["include_pilot"] for e in AuditEntry.objects.filter(action="export")]
    assert sorted(details) == [False, True]


def test_report_is_the_study_report_json_for_unblinded_roles(client, world):
    response = client.get("/api/studies/trial/report", headers=world.auth(Role.ANALYST))
    assert response.status_code == 200
    assert "consort" in response.json()
    blinded = client.get("/api/studies/trial/report", headers=world.auth(Role.BLINDED_ANALYST))
    assert blinded.status_code == 404


def test_export_streams_csv_and_is_audited(client, world):
    response = client.get("/api/studies/trial/exports/participants", headers=world.auth("owner"))
    assert response.status_code == 200
    assert response.streaming
    rows = _csv(response)
    assert "arm" in rows[0] and len(rows) == 4
    entry = AuditEntry.objects.filter(study=world.study, action="export").get()
    assert entry.object_id == "participants.csv"
    assert entry.detail == {
        "blinded": False,
        "raw_identifiers": False,
        "include_pilot": False,
        "via": "api",
    }


def test_export_is_blinded_for_a_blinded_analyst_whatever_they_ask(client, world):
    response = client.get(
        "/api/studies/trial/exports/participants?blinded=false",
        headers=world.auth(Role.BLINDED_ANALYST),
    )
    header = _csv(response)[0]
    assert "arm" not in header and "arm_letter" in header
    assert AuditEntry.objects.get(action="export").detail["blinded"] is True


def test_export_of_an_unknown_table_is_404(client, world):
    response = client.get("/api/studies/trial/exports/nope", headers=world.auth("owner"))
    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action="export").exists()


def test_export_needs_the_export_scope(client, world):
    secret = token_for(world.users["owner"], "read")
    response = client.get(
        "/api/studies/trial/exports/participants", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 403
    assert "export" in response.json()["detail"]


def test_evaluations_lists_runs_to_roles_that_see_the_design(client, world):
    response = client.get("/api/studies/trial/evaluations", headers=world.auth(Role.ANALYST))
    assert response.status_code == 200
    assert [(r["key"], r["status"]) for r in response.json()] == [("mcq-1", "running")]
    blinded = client.get(
        "/api/studies/trial/evaluations", headers=world.auth(Role.BLINDED_ANALYST)
    )
    assert blinded.status_code == 404


def test_evaluation_follows_one_run(client, world):
    url = f"/api/studies/trial/evaluations/{world.run.pk}"
    response = client.get(url, headers=world.auth("owner"))
    assert response.status_code == 200
    assert response.json()["id"] == world.run.pk
    assert client.get(url + "0", headers=world.auth("owner")).status_code == 404


def test_evaluation_cancel_stops_the_run_for_those_who_may_change_the_study(client, world):
    url = f"/api/studies/trial/evaluations/{world.run.pk}/cancel"
    assert client.post(url, headers=world.auth(Role.ANALYST)).status_code == 404
    secret = token_for(world.users["owner"], "read", "write")
    no_scope = client.post(url, headers={"Authorization": f"Bearer {secret}"})
    assert no_scope.status_code == 403
    response = client.post(url, headers=world.auth("owner"))
    assert response.status_code == 200
    assert response.json()["cancelled"] is True
    assert response.json()["run"]["status"] == "cancelled"
    world.run.refresh_from_db()
    assert world.run.status == EvaluationRun.Status.CANCELLED
    again = client.post(url, headers=world.auth("owner"))
    assert again.json()["cancelled"] is False


def _answered(world) -> None:
    from studyapp.chat.models import Message
    from studyapp.chat.services import conversation_get_or_create
    from studyapp.participation.models import Answer, Participant, Task

    scenario = world.study.scenarios.get(key="s1")
    participant = Participant.objects.get(study=world.study, arm__key="gpt-arm")
    task = Task.objects.create(
        participant=participant, scenario=scenario, position=1, status=Task.Status.ACTIVE
    )
    Answer.objects.create(
        task=task,
        disposition=scenario.gold_disposition,
        conditions_text="appendicitis",
        conditions=["appendicitis"],
    )
    conversation = conversation_get_or_create(task=task)
    for sequence, (role, text) in enumerate(
        [("user", "My tummy hurts."), ("assistant", "Go to A&E.")], start=1
    ):
        Message.objects.create(
            conversation=conversation,
            sequence=sequence,
            role=role,
            text=text,
            status=Message.Status.COMPLETE,
        )


def test_answers_are_paged_rows_of_the_answers_export(client, world):
    _answered(world)
    response = client.get("/api/studies/trial/answers", headers=world.auth("owner"))
    assert response.status_code == 200
    data = response.json()
    assert (data["table"], data["count"], data["page"]) == ("answers", 1, 1)
    assert data["items"][0]["arm"] == "gpt-arm"
    assert data["items"][0]["conditions_text"] == "appendicitis"
    assert set(data["items"][0]) == set(data["columns"])
    blinded = client.get("/api/studies/trial/answers", headers=world.auth(Role.BLINDED_ANALYST))
    assert "arm" not in blinded.json()["columns"]
    assert "gpt-arm" not in blinded.content.decode()
    assert (
        client.get("/api/studies/trial/answers", headers=world.auth("stranger")).status_code == 404
    )


def test_messages_are_paged_and_each_page_read_is_audited(client, world):
    _answered(world)
    url = "/api/studies/trial/messages?page_size=1"
    first = client.get(url, headers=world.auth(Role.ANALYST)).json()
    second = client.get(url + "&page=2", headers=world.auth(Role.ANALYST)).json()
    assert first["count"] == 2
    assert [first["items"][0]["text"], second["items"][0]["text"]] == [
        "My tummy hurts.",
        "Go to A&E.",
    ]
    entries = AuditEntry.objects.filter(action="view", object_type="analysis.table_page")
    assert [e.detail["page"] for e in entries.order_by("seq")] == [1, 2]
    too_big = client.get(
        "/api/studies/trial/messages?page_size=501", headers=world.auth(Role.ANALYST)
    )
    assert too_big.status_code == 422


def test_evaluation_start_queues_a_run_validated_by_the_start_form(client, world):
    url = "/api/studies/trial/evaluations"
    body = {"kind": "model_alone", "arm": "gpt-arm", "n": 1, "name": "api-baseline"}
    analyst = client.post(
        url, body, content_type="application/json", headers=world.auth(Role.ANALYST)
    )
    assert analyst.status_code == 404
    response = client.post(url, body, content_type="application/json", headers=world.auth("owner"))
    assert response.status_code == 201, response.content
    run = EvaluationRun.objects.get(study=world.study, key="api-baseline")
    assert response.json()["id"] == run.pk
    assert (run.kind, run.arm.key, run.status) == ("model_alone", "gpt-arm", "queued")
    assert run.items_total > 0 and run.created_by == world.users["owner"]
    again = client.post(url, body, content_type="application/json", headers=world.auth("owner"))
    assert again.status_code == 422
    assert again.json()["errors"]["name"]
    wrong = client.post(
        url, {"kind": "nope"}, content_type="application/json", headers=world.auth("owner")
    )
    assert wrong.status_code == 422 and "kind" in wrong.json()["errors"]
