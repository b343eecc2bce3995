"""Participant link tokens: a random link id, signed with the server's key.

The value in a participant's links is `<link id>.<HMAC-SHA256 signature>`, signed with
django.core.signing under a salt of its own (as oTree's secure URLs are): 256 random bits
and a 256-bit MAC. A forged or altered value fails the signature check before any
database lookup.

What is stored: only the link id (`Participant.link_id`), never the token. The id alone
opens nothing: a working link needs the signature, which only a holder of SECRET_KEY can
compute. So a database dump (participants or the session table, which also holds link
ids only) yields no working link, while the server can always rebuild a participant's
link from the row (to redirect a resuming participant to it, on any tab or device).

Why this rather than a random seed, an HMAC-derived token and a digest of it: both rest on
the same secret (SECRET_KEY), but here the lookup key is part of the link itself, so
rotating SECRET_KEY keeps every link working while the old key is in SECRET_KEY_FALLBACKS
(the signature is checked against each; the link id still finds the row), and migrating
existing rows kept every link that had been sent out byte for byte (migration 0007). A
digest of a key-derived token would change with the key and strand old links.
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


def new_link_id() -> str:
    """A fresh random link id (43 characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def link_token(link_id: str) -> str:
    """The signed value in the links of the participant with this link id."""
    return _signer().sign(link_id)


def new_participant_token() -> str:
    """A fresh signed link token (87 characters)."""
    return link_token(new_link_id())


def link_id_from_token(value: str) -> str | None:
    """The link id of a token this server signed (it may still be unknown), else None."""
    if not value or len(value) > MAX_LENGTH or value.count(SEPARATOR) != 1:
        return None
    try:
        return _signer().unsign(value)
    except BadSignature:
        return None


def token_is_authentic(value: str) -> bool:
    """Whether `value` is a token this server signed (it may still be unknown)."""
    return link_id_from_token(value) is not None
