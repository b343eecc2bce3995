"""Tokens over HTTP: 401 without a usable one, 403 for a scope missing, 429 over the rate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from studyapp.api import limits
from studyapp.api.models import ApiToken
from studyapp.api.services import secret_hash, token_create, token_revoke
from tests.api.conftest import token_for


def test_no_token_is_401(client, world):
    response = client.get("/api/studies")
    assert response.status_code == 401


def test_a_signed_in_session_is_not_a_token(client, world):
    client.force_login(world.users["owner"])
    assert client.get("/api/studies").status_code == 401


@pytest.mark.parametrize("secret", ["sapi_nope", "nope", ""])
def test_an_unknown_token_is_401(client, world, secret):
    response = client.get("/api/studies", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_a_revoked_token_is_401(client, world):
    token = ApiToken.objects.get(secret_hash=secret_hash(world.secrets["owner"]))
    assert client.get("/api/studies", headers=world.auth("owner")).status_code == 200
    token_revoke(token=token)
    assert client.get("/api/studies", headers=world.auth("owner")).status_code == 401


def test_an_expired_token_is_401(client, world):
    created = token_create(
        user=world.users["owner"],
        name="soon",
        scopes=["read"],
        expires_at=timezone.now() + timedelta(hours=1),
    )
    headers = {"Authorization": f"Bearer {created.secret}"}
    assert client.get("/api/studies", headers=headers).status_code == 200
    ApiToken.objects.filter(pk=created.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get("/api/studies", headers=headers).status_code == 401


def test_a_deactivated_users_token_is_401(client, world):
    world.users["owner"].is_active = False
    world.users["owner"].save()
    assert client.get("/api/studies", headers=world.auth("owner")).status_code == 401


def test_a_missing_scope_is_403(client, world):
    secret = token_for(world.users["owner"], "export")
    response = client.get("/api/studies", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403
    assert response.json() == {"detail": "This token lacks the 'read' scope."}


def test_only_a_hash_of_the_secret_is_stored_and_its_use_is_noted(client, world):
    token = ApiToken.objects.get(secret_hash=secret_hash(world.secrets["owner"]))
    assert world.secrets["owner"] not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert token.last_used_at is None
    client.get("/api/studies", headers=world.auth("owner"))
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_over_the_rate_limit_is_429_with_retry_after(client, world, settings, monkeypatch):
    settings.API_RATE_LIMIT = 2
    settings.API_RATE_WINDOW_S = 60
    monkeypatch.setattr(limits, "clock", lambda: 999_999_980.0)  # 40 s left in the window
    statuses = [client.get("/api/studies", headers=world.auth("owner")) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2]["Retry-After"] == "40"
    # Counted per token: another user's token is not limited.
    assert client.get("/api/studies", headers=world.auth("stranger")).status_code == 200
    # The next window lets the token in again.
    monkeypatch.setattr(limits, "clock", lambda: 1_000_000_021.0)
    assert client.get("/api/studies", headers=world.auth("owner")).status_code == 200


def test_a_study_that_requires_two_factor_authentication_is_403_without_it(client, world):
    world.study.require_mfa = True
    world.study.save()
    response = client.get("/api/studies/trial", headers=world.auth("owner"))
    assert response.status_code == 403
    assert "two-factor" in response.json()["detail"]
