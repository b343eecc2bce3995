"""allauth's login limit (5 failed tries per account, then a wait) holds across server
processes: it counts in the shared cache, so two workers behind one address allow 5 tries,
not 5 each.

Two real uvicorn processes share one database and one cache; five wrong passwords
alternate between them, and the sixth try is refused even with the right password. On
PostgreSQL + Redis (the production setup) and on SQLite + the file cache (`make run`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import global_settings
from django.db import connection
from django.test import RequestFactory

from bench.common import free_port, start_uvicorn
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "the-right-password-for-this-test"
# Behind a proxy every worker sees the same Host; allauth's per-account key includes it.
HOST = "localhost"
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
LIMITED = "Too many failed login attempts"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a successful login's 302 is the answer, not a page to follow


OPENER = urllib.request.build_opener(_NoRedirect)


def _request(url: str, *, cookie: str = "", data: dict | None = None) -> tuple[int, str, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers={"Host": HOST, "Cookie": cookie})
    try:
        with OPENER.open(request, timeout=30) as response:
            return (
                response.status,
                response.read().decode(),
                response.headers.get_all("Set-Cookie") or [],
            )
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get_all("Set-Cookie") or []


def try_logins(urls: list[str], username: str, passwords: list[str]) -> list[str]:
    """Each password in turn, alternating between the servers; what each try got."""
    status, page, cookies = _request(f"{urls[0]}/accounts/login/")
    assert status == 200, page[-500:]
    csrf_cookie = next(c.split(";")[0] for c in cookies if c.startswith("csrftoken="))
    token = CSRF_INPUT.search(page).group(1)
    outcomes = []
    for i, password in enumerate(passwords):
        status, page, _ = _request(
            f"{urls[i % len(urls)]}/accounts/login/",
            cookie=csrf_cookie,
            data={"csrfmiddlewaretoken": token, "login": username, "password": password},
        )
        if status == 302:
            outcomes.append("signed in")
        elif LIMITED in page:
            outcomes.append("limited")
        elif status == 200 and "notice-error" in page:
            outcomes.append("wrong password")
        else:
            outcomes.append(f"HTTP {status}")
    return outcomes


def start_two_servers(env: dict, tmp_path: Path) -> tuple[list[subprocess.Popen], list[str]]:
    processes, urls = [], []
    try:
        for i in range(2):
            folder = tmp_path / f"server-{i}"
            folder.mkdir()
            port = free_port()
            processes.append(start_uvicorn(port, folder, env=env))
            urls.append(f"http://127.0.0.1:{port}")
    except BaseException:
        stop(processes)
        raise
    return processes, urls


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_env(**changes: str) -> dict:
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": settings.SECRET_KEY, "LOG_LEVEL": "WARNING"}
    return env | changes


EXPECTED = ["wrong password"] * 5 + ["limited"]
PASSWORDS = [f"wrong-{i}" for i in range(5)] + [PASSWORD]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_the_login_limit_holds_across_processes_on_postgresql_and_redis(tmp_path, settings):
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
    require(bool(os.environ.get("REDIS_URL")), "needs Redis (set REDIS_URL)")
    from allauth.core.internal import ratelimit
    from django.contrib.auth import get_user_model

    # The servers check passwords with the real hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    username = f"alice-{uuid.uuid4().hex[:8]}"  # a key no earlier run has counted
    get_user_model().objects.create_user(username, password=PASSWORD)
    # This address's own per-minute count is shared with earlier runs: start it at zero.
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_HOST=HOST)
    ratelimit.clear(
        request, app="allauth.account", action="login_failed", key=f"{HOST}:{username}"
    )

    db = connection.settings_dict  # the test database
    auth = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    database_url = (
        f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = server_env(DATABASE_URL=database_url, REDIS_URL=os.environ["REDIS_URL"])
    processes, urls = start_two_servers(env, tmp_path)
    try:
        assert try_logins(urls, username, PASSWORDS) == EXPECTED
    finally:
        stop(processes)


MIGRATE_AND_ADD_USER = """
import django, sys
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
get_user_model().objects.create_user(sys.argv[1], password=sys.argv[2])
"""


@pytest.mark.timeout(180)
def test_the_login_limit_holds_across_processes_on_sqlite_and_the_file_cache(tmp_path):
    env = server_env(
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        CACHE_DIR=str(tmp_path / "cache"),
        STUDYAPP_RUN_DIR=str(tmp_path / "run"),
    )
    subprocess.run(
        [sys.executable, "-c", MIGRATE_AND_ADD_USER, "alice", PASSWORD],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    processes, urls = start_two_servers(env, tmp_path)
    try:
        assert try_logins(urls, "alice", PASSWORDS) == EXPECTED
    finally:
        stop(processes)
