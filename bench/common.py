"""Pieces every benchmark needs: Django on a scratch or given database, a real uvicorn
server, and summaries of timings."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float], scale: float = 1000.0) -> dict:
    """Median, p95, min, max, in milliseconds by default (values in seconds)."""
    if not values:
        return {"n": 0}

    def r(x: float | None) -> float | None:
        return None if x is None else round(x * scale, 2)

    return {
        "n": len(values),
        "median": r(statistics.median(values)),
        "p95": r(percentile(values, 0.95)),
        "min": r(min(values)),
        "max": r(max(values)),
    }


def setup_django(tmp: Path) -> str:
    """Django on DATABASE_URL (which must exist) or a SQLite file in tmp, migrated.
    Returns the database engine's short name."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyapp.settings")
    # The development configuration, as the benchmarks have always measured (plain http,
    # the dev key); settings default DEBUG to off, which would need DJANGO_SECRET_KEY.
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("STUDYAPP_RUN_DIR", str(tmp / "run"))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]


# Production's socket options (deploy/README.md "uvicorn"): every app the benches serve
# gets them, studyapp and the floor alike.
UVICORN_OPTIONS = [
    "--host", "127.0.0.1", "--lifespan", "off", "--log-level", "warning", "--no-access-log",
    "--ws-max-size", "65536", "--ws-per-message-deflate", "false",
]  # fmt: skip


def start_uvicorn(
    port: int,
    tmp: Path,
    *,
    workers: int = 1,
    env: dict | None = None,
    wait_s: float = 60,
    app: str = "studyapp.asgi:application",
    log_name: str = "uvicorn.log",
    extra_options: list[str] | None = None,
) -> subprocess.Popen:
    """An ASGI app (the real one unless told) under uvicorn in a subprocess, once /healthz
    answers. Every app gets the same options (UVICORN_OPTIONS), then `extra_options`
    (a later flag overrides an earlier one)."""
    log_path = tmp / log_name
    log = log_path.open("wb")
    command = [
        sys.executable, "-m", "uvicorn", app,
        "--port", str(port), "--workers", str(workers), *UVICORN_OPTIONS,
        *(extra_options or []),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env or os.environ.copy(), stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited:\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except urllib.error.HTTPError:
            return process  # it answers; an unhealthy layer is for the bench to report
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"uvicorn did not start in {wait_s:.0f} s")
