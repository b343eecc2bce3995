"""The page where users make and revoke their tokens."""

from __future__ import annotations

from django.urls import reverse

from studyapp.api.models import ApiToken
from studyapp.api.services import secret_hash


def test_it_creates_a_token_and_shows_the_secret_once(client, world):
    client.force_login(world.users["stranger"])
    response = client.post(
        reverse("api_tokens:list"), {"name": "R script", "scopes": ["read", "export"]}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    token = ApiToken.objects.get(user=world.users["stranger"], name="R script")
    assert token.scopes == ["export", "read"]
    secret = html.split('id="token-secret">')[1].split("<")[0]
    assert secret_hash(secret) == token.secret_hash
    assert secret not in client.get(reverse("api_tokens:list")).content.decode()
    assert client.get("/api/studies", headers={"Authorization": f"Bearer {secret}"}).json() == []


def test_it_refuses_a_token_without_scopes(client, world):
    client.force_login(world.users["stranger"])
    response = client.post(reverse("api_tokens:list"), {"name": "x"})
    assert response.status_code == 400
    assert not ApiToken.objects.filter(name="x").exists()


def test_it_revokes_the_users_own_token(client, world):
    client.force_login(world.users["owner"])
    token = ApiToken.objects.get(user=world.users["owner"])
    response = client.post(reverse("api_tokens:revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.get("/api/studies", headers=world.auth("owner")).status_code == 401
    assert "revoked" in client.get(reverse("api_tokens:list")).content.decode()


def test_another_users_token_is_404(client, world):
    client.force_login(world.users["stranger"])
    token = ApiToken.objects.get(user=world.users["owner"])
    assert client.post(reverse("api_tokens:revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_is_for_signed_in_users(client, db):
    response = client.get(reverse("api_tokens:list"))
    assert response.status_code == 302 and "/login/" in response["Location"]
