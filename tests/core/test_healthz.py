from __future__ import annotations

import pytest

from studyapp.core import views as core_views

# The sync test client runs the async view under async_to_sync, so the view's
# sync_to_async database check runs on the test's own connection (no stray connection
# left open in an executor thread).
pytestmark = pytest.mark.django_db


def test_it_reports_ok_with_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "channel_layer": "ok",
        "model_endpoints": "ok",
    }
    assert "no-cache" in response["Cache-Control"]


def test_it_returns_503_when_the_channel_layer_fails(client, monkeypatch):
    class BrokenLayer:
        async def new_channel(self, prefix: str = "specific.") -> str:
            raise ConnectionError("redis went away")

    monkeypatch.setattr(core_views, "get_channel_layer", lambda: BrokenLayer())
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["channel_layer"] == "error: ConnectionError"


def test_it_returns_503_when_no_channel_layer_is_configured(client, monkeypatch):
    monkeypatch.setattr(core_views, "get_channel_layer", lambda: None)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["channel_layer"] == "error: RuntimeError"


def test_it_returns_503_when_the_channel_layer_hangs(client, monkeypatch):
    class SilentLayer:
        async def new_channel(self, prefix: str = "specific.") -> str:
            return prefix + "x"

        async def send(self, channel: str, message: dict) -> None:
            return None

        async def receive(self, channel: str) -> dict:
            import asyncio

            await asyncio.Event().wait()  # never answers
            return {}

    monkeypatch.setattr(core_views, "get_channel_layer", lambda: SilentLayer())
    monkeypatch.setattr(core_views, "HEALTHZ_CHECK_TIMEOUT_S", 0.2)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["channel_layer"] == "error: TimeoutError"


def test_it_rejects_post(client):
    response = client.post("/healthz")
    assert response.status_code == 405


def test_it_returns_503_when_the_database_fails(client, monkeypatch):
    def broken() -> None:
        raise ConnectionRefusedError("database is down")

    monkeypatch.setattr(core_views, "_check_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "error: ConnectionRefusedError",
        "channel_layer": "ok",
    }
