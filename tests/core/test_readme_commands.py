"""README's commands run as written from a checkout: `./manage` needs no activated
virtualenv and no environment, and every `./manage <command>` the README names exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent.parent


def test_every_manage_command_in_the_readme_exists():
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"\./manage ([a-z_]+)", readme))
    assert named, "the README names no ./manage command"
    assert named <= set(get_commands()), sorted(named - set(get_commands()))


def test_manage_runs_without_an_activated_virtualenv_or_settings(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no venv, no DJANGO_*
    result = subprocess.run(
        [str(ROOT / "manage"), "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
