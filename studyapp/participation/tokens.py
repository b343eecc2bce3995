"""Participant link tokens: 256 random bits, signed with the server's key.

The value in a participant's links is `<random>.<HMAC-SHA256 signature>`, signed with
django.core.signing under a salt of its own (as oTree's secure URLs are). A forged or
altered value fails the signature check before any database lookup, and a database
leak alone does not let anyone mint valid links for another server. Rotating
SECRET_KEY keeps old links working while the old key is in SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

import secrets

from django.core.signing import BadSignature, Signer

SALT = "studyapp.participation.link"
# The random part and the signature are both URL-safe base64 ([A-Za-z0-9_-]), so "." can
# only ever be the separator.
SEPARATOR = "."
MAX_LENGTH = 128


def _signer() -> Signer:
    return Signer(salt=SALT, sep=SEPARATOR)


def new_participant_token() -> str:
    """A fresh signed link token (87 characters)."""
    return _signer().sign(secrets.token_urlsafe(32))


def token_is_authentic(value: str) -> bool:
    """Whether `value` is a token this server signed (it may still be unknown)."""
    if not value or len(value) > MAX_LENGTH or value.count(SEPARATOR) != 1:
        return False
    try:
        _signer().unsign(value)
    except BadSignature:
        return False
    return True
