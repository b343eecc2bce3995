"""Writes of API tokens: create (the secret returned once), revoke, mark used."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from studyapp.api.models import ApiToken, Scope
from studyapp.audit import services as audit

SECRET_PREFIX = "sapi_"  # noqa: S105 - a marker, not a secret
# last_used_at is written at most this often per token, not on every request.
LAST_USED_EVERY = timedelta(minutes=1)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    secret: str  # shown once; never stored


def token_create(
    *, user, name: str, scopes: list[str], expires_at: datetime | None = None
) -> CreatedToken:
    unknown = set(scopes) - set(Scope.values)
    if unknown or not scopes:
        raise ValidationError("Choose one or more of the known scopes.")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip(),
        prefix=secret[: len(SECRET_PREFIX) + 6],
        secret_hash=secret_hash(secret),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    token.full_clean()
    with transaction.atomic():
        token.save()
        _audit(token, "create_api_token", after=_described(token))
    return CreatedToken(token=token, secret=secret)


def _described(token: ApiToken) -> dict:
    """What the audit trail keeps of a token: never its secret or hash."""
    return {
        "name": token.name,
        "prefix": token.prefix,
        "scopes": token.scopes,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def _audit(token: ApiToken, action: str, **values) -> None:
    # The global chain: a token is a user's, not a study's.
    audit.record(
        actor=token.user,
        action=action,
        object_type="api_token",
        object_id=token.pk,
        object_repr=f"{token.prefix}… ({token.name})"[:200],
        **values,
    )


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            _audit(token, "revoke_api_token", before=_described(token))
    return token


def token_authenticate(secret: str) -> ApiToken | None:
    """The usable token with this secret (its user loaded), or None; notes its use."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    token = (
        ApiToken.objects.usable()
        .select_related("user")
        .filter(secret_hash=secret_hash(secret), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
