"""Content-Security-Policy, Permissions-Policy and the https redirect.

The browser tests (tests/e2e) fail on any CSP violation, so they prove the policy blocks
nothing the pages need; these check that it is there and strict.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from studyapp.core.security import permissions_policy_header

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def test_every_page_has_a_strict_content_security_policy(client):
    csp = directives(client.get(reverse("account_login")))
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval
    assert csp["connect-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    # <style> elements only from here (and plotly's two, by hash); attributes are allowed.
    assert "'unsafe-inline'" not in csp["style-src-elem"]
    assert csp["style-src-attr"] == ["'unsafe-inline'"]


def test_participant_pages_and_errors_have_it_too(client):
    assert "frame-ancestors 'none'" in client.get("/s/no-such-study/")["Content-Security-Policy"]


def test_browser_features_are_switched_off(client):
    header = client.get(reverse("account_login"))["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in header.split(", ")
    # Security keys (allauth.mfa's WebAuthn) on this origin's own pages only.
    for feature in ("publickey-credentials-create", "publickey-credentials-get"):
        assert f"{feature}=(self)" in header.split(", ")


def test_the_permissions_policy_header_is_written_as_the_spec_says():
    policy = {"camera": [], "fullscreen": ["self"]}
    assert permissions_policy_header(policy) == "camera=(), fullscreen=(self)"


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>"), "inline <script>"),
    (re.compile(r"<style\b"), "<style> element"),
    (re.compile(r"\sstyle=\""), "style attribute"),
    (re.compile(r"\son[a-z]+=\""), "event handler attribute"),
    (re.compile(r"javascript:"), "javascript: URL"),
]


def test_templates_hold_no_inline_script_or_style():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert found == []


def test_health_and_metrics_are_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get(reverse("account_login")).status_code == 301
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code != 301
