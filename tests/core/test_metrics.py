from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from studyapp.core import metrics
from studyapp.evaluations.models import EvaluationRun
from tests.factories import make_participant, make_study

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client, token: str = TOKEN) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return samples(response.content.decode())


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


# --- The view -------------------------------------------------------------------------
def test_it_is_404_when_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", headers={"authorization": "Bearer "})
    assert response.status_code == 404


def test_it_is_404_without_a_token(client, metrics_token):
    assert client.get("/metrics").status_code == 404


def test_it_is_404_with_a_wrong_token(client, metrics_token):
    for header in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN):
        response = client.get("/metrics", headers={"authorization": header})
        assert response.status_code == 404, header


def test_it_serves_the_text_format_with_the_token(client, metrics_token):
    response = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"]
    names = {f.name for f in text_string_to_metric_families(response.content.decode())}
    assert {
        "studyapp_http_requests",
        "studyapp_chat_sockets_open",
        "studyapp_chat_reply_first_token_seconds",
        "studyapp_evaluation_runs",
        "studyapp_evaluation_items",
    } <= names


def test_it_rejects_post(client, metrics_token):
    response = client.post("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


def test_it_is_not_redirected_to_https(client, metrics_token, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301


# --- The middleware -------------------------------------------------------------------
def test_the_middleware_counts_requests_by_view_name(client, metrics_token):
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no/such/page/")
    after = scrape(client)
    key = {"method": "GET", "status": "200", "view": "healthz"}
    assert value(after, "studyapp_http_requests_total", **key) == (
        value(before, "studyapp_http_requests_total", **key) + 2
    )
    key = {"method": "GET", "status": "404", "view": "unresolved"}
    assert value(after, "studyapp_http_requests_total", **key) == (
        value(before, "studyapp_http_requests_total", **key) + 1
    )
    assert (
        value(after, "studyapp_http_request_duration_seconds_count", method="GET", view="healthz")
        >= 2
    )


async def test_the_middleware_counts_under_asgi_too(async_client):
    def count() -> float:
        # This process's own counters, without the scrape's database query: from the
        # event loop it would run on a thread whose connection outlives the test.
        labels = {"method": "GET", "status": "404", "view": "unresolved"}
        return metrics._REGISTRY.get_sample_value("studyapp_http_requests_total", labels) or 0

    before = count()
    response = await async_client.get("/no/such/page/")
    assert response.status_code == 404
    assert count() == before + 1


def test_it_never_puts_a_participant_token_in_a_label(client, metrics_token):
    participant = make_participant(make_study())
    client.get(f"/p/{participant.token}/")
    client.get(f"/p/{participant.token}/tasks/1/answer")
    client.get(f"/p/{participant.token}-forged/consent?x={participant.token}")
    text = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).content.decode()
    assert participant.token not in text
    assert "/p/" not in text
    views = {labels.get("view") for (_, labels_t) in samples(text) for labels in [dict(labels_t)]}
    assert {"participation:home", "participation:answer", "participation:consent"} <= views


def test_an_unknown_method_is_labelled_other():
    metrics.http_request_observed("BREW", 405, "healthz", 0.001)
    found = samples(metrics.render().decode())
    assert (
        value(found, "studyapp_http_requests_total", method="OTHER", status="405", view="healthz")
        >= 1
    )


# --- Chat hooks -----------------------------------------------------------------------
def test_the_chat_hooks_show_in_the_scrape():
    before = samples(metrics.render().decode())
    metrics.socket_opened()
    metrics.socket_opened()
    metrics.socket_closed()
    metrics.reply_first_token("ep-1", 0.3)
    metrics.reply_token_gap("ep-1", 0.004)
    metrics.reply_finished("ep-1", "complete")
    metrics.reply_finished("ep-1", "error", "timeout")
    after = samples(metrics.render().decode())

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("studyapp_chat_sockets_open") == 1
    assert delta("studyapp_chat_reply_first_token_seconds_bucket", endpoint="ep-1", le="0.5") == 1
    assert delta("studyapp_chat_reply_first_token_seconds_bucket", endpoint="ep-1", le="0.25") == 0
    assert delta("studyapp_chat_reply_token_gap_seconds_bucket", endpoint="ep-1", le="0.005") == 1
    assert (
        delta("studyapp_chat_replies_total", endpoint="ep-1", status="complete", error_code="")
        == 1
    )
    assert (
        delta("studyapp_chat_replies_total", endpoint="ep-1", status="error", error_code="timeout")
        == 1
    )
    metrics.socket_closed()


# --- Evaluation progress --------------------------------------------------------------
def test_evaluation_progress_is_one_aggregate_query(django_assert_num_queries):
    study = make_study()
    for key, status, total, done, failed in (
        ("a", EvaluationRun.Status.RUNNING, 10, 4, 1),
        ("b", EvaluationRun.Status.RUNNING, 20, 5, 0),
        ("c", EvaluationRun.Status.SUCCEEDED, 7, 7, 0),
    ):
        EvaluationRun.objects.create(
            study=study,
            key=key,
            kind=EvaluationRun.Kind.MCQ,
            status=status,
            items_total=total,
            items_done=done,
            items_failed=failed,
        )
    with django_assert_num_queries(1):
        text = metrics.render().decode()
    found = samples(text)
    assert value(found, "studyapp_evaluation_runs", status="running") == 2
    assert value(found, "studyapp_evaluation_runs", status="succeeded") == 1
    assert ("studyapp_evaluation_runs", (("status", "queued"),)) in found  # zero, not absent
    items = "studyapp_evaluation_items"
    assert value(found, items, run_status="running", progress="total") == 30
    assert value(found, items, run_status="running", progress="done") == 9
    assert value(found, items, run_status="running", progress="failed") == 1
    assert value(found, items, run_status="succeeded", progress="done") == 7
    assert value(found, "studyapp_evaluation_progress_up") == 1


def test_a_database_error_does_not_break_the_scrape(monkeypatch):
    from django.db import DatabaseError
    from django.db.models import QuerySet

    def broken(self):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(QuerySet, "__iter__", broken)
    found = samples(metrics.render().decode())
    assert value(found, "studyapp_evaluation_progress_up") == 0
    assert any(name.startswith("studyapp_chat_") for name, _ in found)


# --- Several processes ----------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys
    from studyapp.core import metrics
    assert metrics.MULTIPROC_DIR, "the child must run in multiprocess mode"
    metrics.socket_opened()
    metrics.socket_opened() if sys.argv[1] == "exit" else None
    metrics.http_request_observed("GET", 200, "healthz", 0.01)
    metrics.reply_finished("ep-mp", "complete")
    metrics.reply_first_token("ep-mp", 0.2)
    print("ready", flush=True)
    if sys.argv[1] == "stay":
        sys.stdin.read()  # alive until the parent closes stdin
    """
)


def test_multiprocess_mode_adds_up_across_processes(tmp_path, monkeypatch):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the hooks need no Django
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "exit"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    alive = subprocess.Popen(
        [sys.executable, "-c", CHILD, "stay"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert alive.stdout.readline().strip() == "ready"
        monkeypatch.setattr(metrics, "MULTIPROC_DIR", str(tmp_path))
        found = samples(metrics.render().decode())
    finally:
        alive.stdin.close()
        alive.wait(timeout=10)

    key = {"method": "GET", "status": "200", "view": "healthz"}
    assert value(found, "studyapp_http_requests_total", **key) == 2
    assert (
        value(
            found,
            "studyapp_chat_replies_total",
            endpoint="ep-mp",
            status="complete",
            error_code="",
        )
        == 2
    )
    assert value(found, "studyapp_chat_reply_first_token_seconds_count", endpoint="ep-mp") == 2
    # Two sockets of the exited process no longer count; the live one's does.
    assert value(found, "studyapp_chat_sockets_open") == 1
    assert value(found, "studyapp_evaluation_progress_up") == 1
