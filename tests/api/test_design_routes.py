"""The design routes over HTTP: a study from a design file, its settings, scenarios and
arms, written with the builder's forms and services (the pages' rules), by owners and
collaborators with a token of the `write` scope; each change on the study's trail with
the token's user."""

from __future__ import annotations

from studyapp.api import limits
from studyapp.audit.models import AuditEntry
from studyapp.participation.models import Participant, Task
from studyapp.studies.design_files import design_export
from studyapp.studies.models import Arm, Scenario, Study
from studyapp.studies.roles import Role
from tests.api.conftest import token_for
from tests.factories import make_endpoint, make_member, make_user


def send(client, method: str, url: str, body: dict, headers: dict):
    return getattr(client, method)(url, body, content_type="application/json", headers=headers)


def read_only(world) -> dict:
    """The owner's token without the `write` scope."""
    return {"Authorization": f"Bearer {token_for(world.users['owner'], 'read', 'export')}"}


def last_change(study: Study, object_type: str) -> AuditEntry:
    return (
        AuditEntry.objects.of_study(study).filter(object_type=object_type).order_by("seq").last()
    )


# --- A new study from a design file --------------------------------------------------------


def test_study_create_imports_a_design_file_and_makes_the_user_its_owner(client, world):
    design = design_export(world.study)
    body = {"slug": "trial-copy", "title": "Trial, again", "design": design}
    assert send(client, "post", "/api/studies", body, read_only(world)).status_code == 403
    # The analyst may not use the arms' endpoint (not a study they change): as on the page.
    refused = send(client, "post", "/api/studies", body, world.auth(Role.ANALYST))
    assert refused.status_code == 422 and "endpoint-1" in refused.json()["errors"]["design"][0]
    response = send(client, "post", "/api/studies", body, world.auth("owner"))
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["slug"], data["title"], data["status"], data["role"]) == (
        "trial-copy",
        "Trial, again",
        "draft",
        "owner",
    )
    assert {a["key"] for a in data["arms"]} == {"gpt-arm", "control"}
    assert [s["key"] for s in data["scenarios"]] == ["s1", "s2"]
    copy = Study.objects.get(slug="trial-copy")
    created = last_change(copy, "studies.study")
    assert created.action == "create" and created.actor_label == "owner"
    # The design upload page's form judges it: a slug in use, a file that is no design.
    again = send(client, "post", "/api/studies", body, world.auth("owner"))
    assert again.status_code == 422 and set(again.json()["errors"]) == {"slug"}
    wrong = send(
        client, "post", "/api/studies", {"slug": "x", "design": {"format": 0}}, world.auth("owner")
    )
    assert wrong.status_code == 422 and wrong.json()["errors"]["design"]
    missing = send(client, "post", "/api/studies", {}, world.auth("owner"))
    assert set(missing.json()["errors"]) == {"slug", "design"}


# --- Settings ------------------------------------------------------------------------------


def test_settings_are_read_by_roles_that_see_the_design(client, world):
    response = client.get("/api/studies/trial/settings", headers=world.auth(Role.ANALYST))
    assert response.status_code == 200
    data = response.json()
    assert data["title"] == "Study trial" and data["languages"] == ["en"]
    assert data["disposition_scale"] == world.study.disposition_scale.slug
    blinded = client.get("/api/studies/trial/settings", headers=world.auth(Role.BLINDED_ANALYST))
    assert blinded.status_code == 404


def test_settings_update_changes_what_is_given_as_the_settings_page(client, world):
    url = "/api/studies/trial/settings"
    body = {"title": "Renamed trial"}
    assert send(client, "patch", url, body, world.auth(Role.ANALYST)).status_code == 404
    assert send(client, "patch", url, body, read_only(world)).status_code == 403
    response = send(client, "patch", url, body, world.auth("owner"))
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Renamed trial"
    world.study.refresh_from_db()
    assert world.study.title == "Renamed trial"
    assert world.study.consent_text == "You agree to take part."  # not given: kept
    entry = last_change(world.study, "studies.study")
    assert (entry.action, entry.actor_label) == ("change", "owner")
    assert (entry.before, entry.after) == ({"title": "Study trial"}, {"title": "Renamed trial"})
    # The form's messages, by field; the live study's languages are fixed, said by name.
    refused = send(
        client, "patch", url, {"title": "", "languages": ["en", "de"]}, world.auth("owner")
    )
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert set(errors) == {"title", "languages"}
    assert "cannot change" in errors["languages"][0]
    world.study.refresh_from_db()
    assert world.study.title == "Renamed trial"


def test_only_owners_change_whether_two_factor_is_required(client, world):
    collaborator = make_user("collaborator")
    make_member(world.study, collaborator, Role.COLLABORATOR, granted_by=world.users["owner"])
    secret = token_for(collaborator, "read", "write")
    response = send(
        client,
        "patch",
        "/api/studies/trial/settings",
        {"require_mfa": True},
        {"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 422 and "require_mfa" in response.json()["errors"]


# --- Scenarios -----------------------------------------------------------------------------


def _scenario_body(key: str = "s3") -> dict:
    return {
        "key": key,
        "title": "Chest pain",
        "sections": [{"heading": "You", "text": "Your chest hurts."}],
        "gold_disposition": "ae",
        "gold_conditions": ["angina", "myocardial infarction"],
        "red_flags": ["myocardial infarction"],
        "condition_synonyms": {"myocardial infarction": ["heart attack"]},
    }


def test_scenario_shows_the_active_version_with_its_gold_answers(client, world):
    url = "/api/studies/trial/scenarios/s1"
    response = client.get(url, headers=world.auth(Role.ANALYST))
    assert response.status_code == 200
    data = response.json()
    assert (data["key"], data["version"], data["gold_disposition"]) == ("s1", 1, "ae")
    assert data["gold_conditions"] == ["appendicitis", "ovarian torsion"]
    assert client.get(url, headers=world.auth(Role.BLINDED_ANALYST)).status_code == 404
    missing = client.get("/api/studies/trial/scenarios/nope", headers=world.auth("owner"))
    assert missing.status_code == 404


def test_scenario_create_adds_a_scenario_validated_as_on_its_page(client, world):
    url = "/api/studies/trial/scenarios"
    assert send(client, "post", url, _scenario_body(), world.auth(Role.ANALYST)).status_code == 404
    assert send(client, "post", url, _scenario_body(), read_only(world)).status_code == 403
    response = send(client, "post", url, _scenario_body(), world.auth("owner"))
    assert response.status_code == 201, response.content
    assert (response.json()["version"], response.json()["new_version"]) == (1, False)
    scenario = Scenario.objects.get(study=world.study, key="s3")
    assert scenario.condition_synonyms == {"myocardial infarction": ["heart attack"]}
    entry = last_change(world.study, "studies.scenario")
    assert (entry.action, entry.actor_label, entry.object_id) == (
        "create",
        "owner",
        str(scenario.pk),
    )
    taken = send(client, "post", url, _scenario_body("s1"), world.auth("owner"))
    assert taken.status_code == 422 and "key" in taken.json()["errors"]
    body = {
        **_scenario_body("s4"),
        "sections": [],
        "gold_disposition": "nope",
        "condition_synonyms": {"stroke": ["CVA"]},
    }
    wrong = send(client, "post", url, body, world.auth("owner"))
    assert wrong.status_code == 422
    assert set(wrong.json()["errors"]) == {"sections", "gold_disposition", "condition_synonyms"}
    assert not Scenario.objects.filter(study=world.study, key="s4").exists()


def test_scenario_update_edits_in_place_or_makes_a_new_version_when_used(client, world):
    url = "/api/studies/trial/scenarios/s1"
    body = {"title": "Belly ache"}
    assert send(client, "patch", url, body, world.auth(Role.ANALYST)).status_code == 404
    assert send(client, "patch", url, body, read_only(world)).status_code == 403
    response = send(client, "patch", url, body, world.auth("owner"))
    assert response.status_code == 200, response.content
    assert (response.json()["version"], response.json()["new_version"]) == (1, False)
    assert response.json()["gold_conditions"] == ["appendicitis", "ovarian torsion"]  # kept
    first = Scenario.objects.get(study=world.study, key="s1")
    assert first.title == "Belly ache"
    # Used by a participant: the version stays as they saw it; the change is version 2.
    Task.objects.create(
        participant=Participant.objects.filter(study=world.study).first(),
        scenario=first,
        position=1,
    )
    again = send(client, "patch", url, {"gold_conditions": ["appendicitis"]}, world.auth("owner"))
    assert again.status_code == 200, again.content
    assert (again.json()["version"], again.json()["new_version"]) == (2, True)
    first.refresh_from_db()
    assert not first.is_active and first.gold_conditions == ["appendicitis", "ovarian torsion"]
    deactivated = last_change(world.study, "studies.scenario")
    kinds = [
        (e.action, e.object_id, e.actor_label)
        for e in AuditEntry.objects.of_study(world.study).filter(object_type="studies.scenario")
    ]
    assert ("change", str(first.pk), "owner") in kinds
    assert deactivated.actor_label == "owner"
    renamed = send(client, "patch", url, {"key": "s9"}, world.auth("owner"))
    assert renamed.status_code == 422 and "key" in renamed.json()["errors"]
    typed = send(client, "patch", url, {"gold_conditions": "appendicitis"}, world.auth("owner"))
    assert typed.status_code == 422 and "gold_conditions" in typed.json()["errors"]


def test_scenario_key_facts_and_rubric_are_read_and_written_as_in_design_files(client, world):
    url = "/api/studies/trial/scenarios/s1"
    facts = [{"key": "fever", "text": "Has a fever", "patterns": ["fever", "temperature"]}]
    rubric = [{"key": "ae", "text": "Says to go to A&E", "applies_to": "model", "points": 2}]
    response = send(
        client, "patch", url, {"key_facts": facts, "rubric": rubric}, world.auth("owner")
    )
    assert response.status_code == 200, response.content
    scenario = Scenario.objects.get(study=world.study, key="s1", is_active=True)
    assert scenario.key_facts == facts and scenario.rubric == rubric
    read = client.get(url, headers=world.auth("owner")).json()
    assert (read["key_facts"], read["rubric"]) == (facts, rubric)
    # Another field's edit leaves them as they are.
    send(client, "patch", url, {"title": "Belly ache"}, world.auth("owner"))
    scenario.refresh_from_db()
    assert scenario.key_facts == facts and scenario.rubric == rubric
    wrong = send(
        client, "patch", url, {"key_facts": [{"key": "x", "text": ""}]}, world.auth("owner")
    )
    assert wrong.status_code == 422 and set(wrong.json()["errors"]) == {"key_facts"}
    assert wrong.json()["errors"]["key_facts"][0].startswith("key fact 1:")
    scenario.refresh_from_db()
    assert scenario.key_facts == facts


# --- Arms ----------------------------------------------------------------------------------


def test_arm_shows_its_endpoint_by_name_to_roles_that_see_the_design(client, world):
    url = "/api/studies/trial/arms/gpt-arm"
    response = client.get(url, headers=world.auth(Role.ANALYST))
    assert response.status_code == 200
    data = response.json()
    assert (data["kind"], data["model"]) == ("llm", "secret-model-7b")
    assert "127.0.0.1" not in response.content.decode()  # never the address
    assert client.get(url, headers=world.auth(Role.BLINDED_ANALYST)).status_code == 404


def test_arm_create_adds_an_arm_with_an_endpoint_the_user_may_use(client, world):
    url = "/api/studies/trial/arms"
    endpoint = world.study.arms.get(key="gpt-arm").endpoint.name
    body = {"key": "gpt-2", "kind": "llm", "endpoint": endpoint, "temperature": 0.2}
    assert send(client, "post", url, body, world.auth(Role.ANALYST)).status_code == 404
    assert send(client, "post", url, body, read_only(world)).status_code == 403
    response = send(client, "post", url, body, world.auth("owner"))
    assert response.status_code == 201, response.content
    arm = Arm.objects.get(study=world.study, key="gpt-2")
    assert arm.endpoint.name == endpoint and arm.sampling_params["temperature"] == 0.2
    entry = last_change(world.study, "studies.arm")
    assert (entry.action, entry.actor_label) == ("create", "owner")
    # Someone else's endpoint is not choosable; the form's bounds hold.
    other = make_endpoint(name="another-teams-gpu")
    body = {"key": "gpt-3", "kind": "llm", "endpoint": other.name, "max_turns": 0}
    wrong = send(client, "post", url, body, world.auth("owner"))
    assert wrong.status_code == 422
    assert set(wrong.json()["errors"]) == {"endpoint", "max_turns"}


def test_arm_update_changes_what_is_given_and_keeps_an_allocated_arm_s_identity(client, world):
    url = "/api/studies/trial/arms/gpt-arm"
    body = {"system_prompt": "Be brief.", "temperature": None}
    assert send(client, "patch", url, body, world.auth(Role.ANALYST)).status_code == 404
    assert send(client, "patch", url, body, read_only(world)).status_code == 403
    response = send(client, "patch", url, body, world.auth("owner"))
    assert response.status_code == 200, response.content
    arm = Arm.objects.get(study=world.study, key="gpt-arm")
    assert arm.system_prompt == "Be brief." and "temperature" not in arm.sampling_params
    assert arm.max_turns == 10  # not given: kept
    entry = last_change(world.study, "studies.arm")
    assert (entry.action, entry.actor_label) == ("change", "owner")
    assert entry.after["system_prompt"] == "Be brief."
    # A participant was allocated to it: its weight is fixed, said by name.
    fixed = send(client, "patch", url, {"weight": 3}, world.auth("owner"))
    assert fixed.status_code == 422 and "cannot change" in fixed.json()["errors"]["weight"][0]
    typed = send(client, "patch", url, {"temperature": "hot"}, world.auth("owner"))
    assert typed.status_code == 422 and "temperature" in typed.json()["errors"]


def test_arm_update_adds_blinding_terms_but_removes_none_once_participants_entered(client, world):
    # As on the arm page (studies.builder_blinding.arm_terms_check): the study runs.
    Arm.objects.filter(study=world.study, key="gpt-arm").update(blinding_terms=["Secret", "Lab"])
    url = "/api/studies/trial/arms/gpt-arm"
    body = {"blinding_terms": ["Secret"], "system_prompt": "Be brief."}
    refused = send(client, "patch", url, body, world.auth("owner"))
    assert refused.status_code == 422
    assert "never removed" in refused.json()["errors"]["blinding_terms"][0]
    arm = Arm.objects.get(study=world.study, key="gpt-arm")
    assert (arm.blinding_terms, arm.system_prompt) == (
        ["Secret", "Lab"],
        "You are a helpful assistant.",
    )
    body = {"blinding_terms": ["secret", "Lab", "Secret 7B"]}
    response = send(client, "patch", url, body, world.auth("owner"))
    assert response.status_code == 200, response.content
    assert response.json()["blinding_terms"] == ["secret", "Lab", "Secret 7B"]


def test_a_write_counts_against_the_token_s_rate_limit(client, world, settings, monkeypatch):
    settings.API_RATE_LIMIT = 1
    settings.API_RATE_WINDOW_S = 60
    monkeypatch.setattr(limits, "clock", lambda: 999_999_980.0)
    url = "/api/studies/trial/settings"
    assert send(client, "patch", url, {"title": "A"}, world.auth("owner")).status_code == 200
    limited = send(client, "patch", url, {"title": "B"}, world.auth("owner"))
    assert limited.status_code == 429 and limited["Retry-After"] == "40"
    world.study.refresh_from_db()
    assert world.study.title == "A"
