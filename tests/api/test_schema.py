"""The OpenAPI schema the app serves validates, and every route in it has a test."""

from __future__ import annotations

import importlib

import pytest
from openapi_spec_validator import validate

# Each route of the schema -> the test (module.function in tests/api) that calls it over
# HTTP. A new route fails test_every_route_has_a_test until it has one here.
ROUTE_TESTS = {
    ("get", "/api/studies"): "test_routes.test_studies_lists_the_users_studies_with_their_role",
    ("get", "/api/studies/{slug}"): (
        "test_routes.test_study_shows_arms_and_scenarios_unblinded_to_the_owner"
    ),
    ("get", "/api/studies/{slug}/participants"): (
        "test_routes.test_participants_are_paged_with_states_and_arms"
    ),
    ("get", "/api/studies/{slug}/answers"): (
        "test_routes.test_answers_are_paged_rows_of_the_answers_export"
    ),
    ("get", "/api/studies/{slug}/messages"): (
        "test_routes.test_messages_are_paged_and_each_page_read_is_audited"
    ),
    ("get", "/api/studies/{slug}/report"): (
        "test_routes.test_report_is_the_study_report_json_for_unblinded_roles"
    ),
    ("get", "/api/studies/{slug}/exports/{table}"): (
        "test_routes.test_export_streams_csv_and_is_audited"
    ),
    ("get", "/api/studies/{slug}/evaluations"): (
        "test_routes.test_evaluations_lists_runs_to_roles_that_see_the_design"
    ),
    ("post", "/api/studies/{slug}/evaluations"): (
        "test_routes.test_evaluation_start_queues_a_run_validated_by_the_start_form"
    ),
    ("get", "/api/studies/{slug}/evaluations/{run_id}"): (
        "test_routes.test_evaluation_follows_one_run"
    ),
    ("post", "/api/studies/{slug}/evaluations/{run_id}/cancel"): (
        "test_routes.test_evaluation_cancel_stops_the_run_for_those_who_may_change_the_study"
    ),
    ("post", "/api/studies"): (
        "test_design_routes.test_study_create_imports_a_design_file_and_makes_the_user_its_owner"
    ),
    ("get", "/api/studies/{slug}/settings"): (
        "test_design_routes.test_settings_are_read_by_roles_that_see_the_design"
    ),
    ("patch", "/api/studies/{slug}/settings"): (
        "test_design_routes.test_settings_update_changes_what_is_given_as_the_settings_page"
    ),
    ("get", "/api/studies/{slug}/scenarios/{scenario_key}"): (
        "test_design_routes.test_scenario_shows_the_active_version_with_its_gold_answers"
    ),
    ("post", "/api/studies/{slug}/scenarios"): (
        "test_design_routes.test_scenario_create_adds_a_scenario_validated_as_on_its_page"
    ),
    ("patch", "/api/studies/{slug}/scenarios/{scenario_key}"): (
        "test_design_routes.test_scenario_update_edits_in_place_or_makes_a_new_version_when_used"
    ),
    ("get", "/api/studies/{slug}/arms/{arm_key}"): (
        "test_design_routes.test_arm_shows_its_endpoint_by_name_to_roles_that_see_the_design"
    ),
    ("post", "/api/studies/{slug}/arms"): (
        "test_design_routes.test_arm_create_adds_an_arm_with_an_endpoint_the_user_may_use"
    ),
    ("patch", "/api/studies/{slug}/arms/{arm_key}"): (
        "test_design_routes.test_arm_update_changes_what_is_given_and_keeps_an_allocated_arm_s_identity"
    ),
}


@pytest.fixture
def schema(client, db) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi(schema):
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_the_schema_says_how_to_authenticate(schema):
    schemes = schema["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]


def test_every_route_has_a_test(schema):
    routes = {(method, path) for path, ops in schema["paths"].items() for method in ops}
    assert routes == set(ROUTE_TESTS)
    for target in ROUTE_TESTS.values():
        module, name = target.split(".")
        assert callable(getattr(importlib.import_module(f"tests.api.{module}"), name)), target


def test_the_docs_page_loads_swagger_from_the_app_not_a_cdn(client, db):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr" not in html and "/static/" in html
