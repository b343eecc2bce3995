"""Identifiers that leave the server: unguessable, URL-safe."""

from __future__ import annotations

import secrets


def new_secret_token() -> str:
    """A 256-bit URL-safe token (43 characters)."""
    return secrets.token_urlsafe(32)


def new_completion_code() -> str:
    """An 8-character code a participant can type (no 0/O/1/I confusion)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))
