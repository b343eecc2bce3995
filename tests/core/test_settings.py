"""What a process gets from studyapp.settings when nobody asked for development mode.

Each case starts a fresh interpreter: settings are read once per process, and the test
suite itself runs with DJANGO_DEBUG=1 (tests/settings.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-production-secret-key-for-this-test-0123456789abcdefghijklmnop"
PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "dev_key": settings.SECRET_KEY.startswith("insecure-dev-only"),
    "SECURE_SSL_REDIRECT": getattr(settings, "SECURE_SSL_REDIRECT", False),
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
}))
"""


def start_process(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A new interpreter loading studyapp.settings with only `env` of the variables that
    decide the mode (the rest of this environment is kept: database, Redis)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    }
    base |= {"DJANGO_SETTINGS_MODULE": "studyapp.settings", "STUDYAPP_RUN_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_process_without_debug_or_a_secret_key_refuses_to_start(tmp_path):
    result = start_process(tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in result.stderr
    assert "DJANGO_DEBUG=1" in result.stderr  # it says how to get development mode


def test_debug_is_off_unless_asked_for(tmp_path):
    result = start_process(tmp_path, DJANGO_SECRET_KEY=SECRET)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "dev_key": False,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
    }


def test_development_mode_is_asked_for_and_brings_the_dev_key(tmp_path):
    result = start_process(tmp_path, DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": True,
        "dev_key": True,
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
    }


def test_production_refuses_the_published_dev_key(tmp_path):
    from django.conf import settings

    result = start_process(tmp_path, DJANGO_DEBUG="0", DJANGO_SECRET_KEY=settings.SECRET_KEY)
    assert settings.SECRET_KEY.startswith("insecure-dev-only")  # the suite runs on it
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is the published dev key" in result.stderr


@pytest.mark.parametrize("target", ["run", "migrations-check"])
def test_make_asks_for_development_mode(target):
    result = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "manage.py" in line]
    assert commands
    assert all(line.startswith("DJANGO_DEBUG=1 ") for line in commands)
