from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError


def validate_http_base_url(value: str) -> None:
    """An http(s) URL with a host, e.g. http://gpu-node:8000/v1 (single-label hosts allowed)."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise ValidationError("Enter a URL such as http://gpu-node:8000/v1.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Enter a URL such as http://gpu-node:8000/v1.")
    if parts.query or parts.fragment or (port is not None and not 0 < port < 65536):
        raise ValidationError("Give the base URL only, without query or fragment.")
