"""The page where users make and revoke their tokens."""

from __future__ import annotations

import json

from django.urls import reverse

from studyapp.api.models import ApiToken
from studyapp.api.services import secret_hash
from studyapp.audit.models import AuditEntry


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


def test_making_and_revoking_a_token_are_on_the_audit_trail_without_its_secret(client, world):
    user = world.users["stranger"]
    client.force_login(user)
    response = client.post(reverse("api_tokens:list"), {"name": "nightly", "scopes": ["read"]})
    secret = response.content.decode().split('id="token-secret">')[1].split("<")[0]
    token = ApiToken.objects.get(user=user, name="nightly")
    client.post(reverse("api_tokens:revoke", args=[token.pk]))
    entries = list(
        AuditEntry.objects.filter(object_type="api_token", object_id=str(token.pk)).order_by("pk")
    )
    assert [(e.action, e.actor_id, e.study_id) for e in entries] == [
        ("create_api_token", user.pk, None),
        ("revoke_api_token", user.pk, None),
    ]
    assert entries[0].after["scopes"] == ["read"] and entries[1].before["name"] == "nightly"
    stored = json.dumps([[e.before, e.after, e.detail, e.object_repr] for e in entries])
    assert secret not in stored and token.secret_hash not in stored
    assert secret[len(token.prefix) :] not in stored
