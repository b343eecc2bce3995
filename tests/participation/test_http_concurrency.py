"""Hundreds of enrolments at once, through real HTTP, against two server processes.

Two uvicorn processes (separate interpreters, separate connection pools) serve the app on
the test database; 260 Prolific participants — 20 of them arriving from three browsers at
once — open the entry link and then all press "I agree" in the same instant. Afterwards:
one participant per PID, exactly one allocation each, a gap-free sequence, every complete
block balanced in every stratum, and the ledger equal to the sequence regenerated from the
seed.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from io import StringIO
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from studyapp.participation.models import Allocation, Participant, ParticipantEvent
from studyapp.studies.models import Study
from tests.conftest import require
from tests.factories import make_control_arm, make_scenario, make_study

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
UNIQUE = 200
DUPLICATED = 20  # PIDs that arrive from three browsers at once
COPIES = 3
STRATA = ("north", "south")
WEIGHTS = {"a": 2, "b": 1, "c": 1}
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HIDDEN_RE = re.compile(r'<input type="hidden" name="([A-Z_]+|site)" value="([^"]*)">')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict  # during the test: the test database
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


# Every browser of the stampede comes from 127.0.0.1 within a second, by construction:
# that test is about allocation, so its servers run without participant rate limits.
NO_RATE_LIMITS = {
    "PARTICIPANT_ENTRY_PER_IP": "0",
    "PARTICIPANT_ENTRY_PER_STUDY": "0",
    "PARTICIPANT_CONSENT_PER_IP": "0",
    "PARTICIPANT_CONSENT_PER_STUDY": "0",
}


def _start_servers(
    count: int, log_dir: Path, extra_env: dict[str, str] | None = None
) -> tuple[list[subprocess.Popen], list[str]]:
    env = os.environ | {
        "DATABASE_URL": _database_url(),
        "DJANGO_DEBUG": "1",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX_SIZE": "8",
        **(NO_RATE_LIMITS if extra_env is None else extra_env),
    }
    processes, urls = [], []
    for i in range(count):
        port = _free_port()
        log = (log_dir / f"uvicorn-{i}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "studyapp.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--lifespan",
                    "off",
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    for process, url in zip(processes, urls, strict=True):
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited; see {log_dir}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answered (a 503 names a dependency, not a dead server)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start in 30 s") from None
                time.sleep(0.1)
    return processes, urls


@pytest.fixture
def study():
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
    study = make_study(
        "stampede",
        allocation_method=Study.AllocationMethod.STRATIFIED_BLOCKS,
        allocation_block_sizes=[4, 8],
        stratum_parameter="site",
        stratum_values=list(STRATA),
        scenarios_per_participant=2,
    )
    for key in ("s1", "s2", "s3"):
        make_scenario(study, key)
    for key, weight in WEIGHTS.items():
        make_control_arm(study, key=key, weight=weight)
    return study


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def servers(study, tmp_path):
    processes, urls = _start_servers(2, tmp_path)
    yield urls
    _stop(processes)


async def _browser(base: str, slug: str, pid: str, site: str, barrier: asyncio.Barrier) -> dict:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=90)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=timeout
    ) as session:
        params = {"PROLIFIC_PID": pid, "STUDY_ID": "st", "SESSION_ID": f"se-{id(session)}"}
        # The link's page, then its Start button (which POSTs the parameters back).
        async with session.get(f"{base}/s/{slug}/", params={**params, "site": site}) as r:
            page = await r.text()
            opened = r.status
        fields = dict(HIDDEN_RE.findall(page))
        assert fields == {**params, "site": site}, (opened, page[-1500:])
        start = {"csrfmiddlewaretoken": CSRF_RE.search(page).group(1), **fields}
        async with session.post(f"{base}/s/{slug}/", data=start) as r:
            page = await r.text()
            home = str(r.url)
            entered = r.status
        match = CSRF_RE.search(page)
        # Everyone presses "I agree" in the same instant.
        await barrier.wait()
        if match is None:
            return {"pid": pid, "entry": entered, "home": home, "consent": None, "page": ""}
        data = {"csrfmiddlewaretoken": match.group(1), "agree": "1"}
        async with session.post(f"{home}consent", data=data) as r:
            after = await r.text()
            return {
                "pid": pid,
                "entry": entered,
                "home": home,
                "consent": r.status,
                "page": after,
            }


async def _stampede(urls: list[str], slug: str) -> list[dict]:
    browsers = [(f"pid-{i:04d}", STRATA[i % 2]) for i in range(UNIQUE)]
    for j in range(DUPLICATED):
        browsers += [(f"dup-{j:03d}", STRATA[j % 2])] * COPIES
    barrier = asyncio.Barrier(len(browsers))
    jobs = [
        _browser(urls[i % len(urls)], slug, pid, site, barrier)
        for i, (pid, site) in enumerate(browsers)
    ]
    return await asyncio.gather(*jobs)


def test_simultaneous_enrolments_over_http_allocate_exactly_once_without_gaps(study, servers):
    started = time.monotonic()
    results = asyncio.run(_stampede(servers, study.slug))
    elapsed = time.monotonic() - started

    # Every browser reached the instructions, duplicates included.
    assert [r for r in results if r["entry"] != 200 or r["consent"] != 200] == []
    assert all("Start the first scenario" in r["page"] for r in results)

    # One participant per PID; the browsers of a PID share it.
    participants = Participant.objects.filter(study=study)
    assert participants.count() == UNIQUE + DUPLICATED
    links = defaultdict(set)
    for r in results:
        links[r["pid"]].add(urlsplit(r["home"]).path)  # the copies used both servers
    assert all(len(paths) == 1 for paths in links.values())

    # Exactly one allocation per participant, and every participant allocated.
    rows = list(Allocation.objects.filter(study=study).order_by("sequence"))
    assert len(rows) == UNIQUE + DUPLICATED
    assert Counter(r.participant_id for r in rows).most_common(1)[0][1] == 1
    assert {r.participant_id for r in rows} == set(participants.values_list("pk", flat=True))
    assert participants.filter(status=Participant.Status.CONSENTED, arm__isnull=False).count() == (
        UNIQUE + DUPLICATED
    )
    assert all(r.outcome == Allocation.Outcome.ASSIGNED for r in rows)

    # A gap-free global sequence, gap-free within each stratum, and every complete block
    # holding each arm weight x (size / 4) times.
    assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
    stratum_of = dict(participants.values_list("pk", "stratum"))
    for stratum in STRATA:
        mine = [r for r in rows if r.stratum == stratum]
        assert {stratum_of[r.participant_id] for r in mine} == {stratum}
        assert [r.stratum_sequence for r in mine] == list(range(1, len(mine) + 1))
        blocks = defaultdict(list)
        for r in mine:
            blocks[r.block].append(r)
        for members in blocks.values():
            size = members[0].block_size
            assert [m.block_position for m in members] == list(range(1, len(members) + 1))
            if len(members) == size:
                counts = Counter(m.arm.key for m in members)
                assert counts == {k: w * size // 4 for k, w in WEIGHTS.items()}

    # The events say the same: nobody entered or consented twice.
    kinds = Counter(ParticipantEvent.objects.filter(study=study).values_list("kind", flat=True))
    assert kinds["entered"] == kinds["consented"] == UNIQUE + DUPLICATED

    out = StringIO()
    call_command("verify_allocation", study.slug, stdout=out)
    assert out.getvalue().startswith(f"OK: {UNIQUE + DUPLICATED} ledger rows")
    assert elapsed < 60


# --- A bot flood against two server processes ------------------------------------------

FLOOD = 200
FLOOD_PER_IP = 20
FLOOD_WINDOW_S = 600


def _wait_for_room_in_the_window(window_s: int, need_s: float) -> None:
    """Limits count in fixed clock windows: a flood that straddles a window's edge is
    rightly let through twice. Start it where at least `need_s` of a window is left."""
    left = window_s - time.time() % window_s
    if left < need_s:
        time.sleep(left + 0.1)


async def _flood(urls: list[str], slug: str, address: str) -> list[tuple[int, str]]:
    import aiohttp

    # nginx on loopback would set X-Forwarded-For; the servers trust 127.0.0.1 by default.
    headers = {"X-Forwarded-For": address}
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=90)
    ) as session:
        # A bot that reads the page once for its CSRF token, then presses Start as fast as
        # it can (its GETs alone would count nobody).
        async with session.get(f"{urls[0]}/s/{slug}/", headers=headers) as r:
            token = CSRF_RE.search(await r.text()).group(1)

        async def one(i: int) -> tuple[int, str]:
            url = f"{urls[i % len(urls)]}/s/{slug}/"
            data = {"csrfmiddlewaretoken": token}
            async with session.post(url, data=data, headers=headers, allow_redirects=False) as r:
                return r.status, r.headers.get("Retry-After", "")

        return await asyncio.gather(*(one(i) for i in range(FLOOD)))


def test_a_bot_flood_over_two_processes_is_held_to_the_shared_limit(tmp_path):
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
    study = make_study("flood", scenarios_per_participant=1, quota_per_arm=5)
    for key in ("s1", "s2"):
        make_scenario(study, key)
    for key in ("a", "b"):
        make_control_arm(study, key=key)
    limits = {
        **NO_RATE_LIMITS,
        "PARTICIPANT_ENTRY_PER_IP": str(FLOOD_PER_IP),
        "PARTICIPANT_RATE_WINDOW_S": str(FLOOD_WINDOW_S),
        # The file cache of this test only (Redis, when REDIS_URL is set, is shared anyway).
        "CACHE_DIR": str(tmp_path / "cache"),
    }
    processes, urls = _start_servers(2, tmp_path, limits)
    try:
        bot = f"10.{os.getpid() % 250}.{int(time.time()) % 250}.7"  # a fresh counter each run
        started = time.monotonic()
        results = asyncio.run(_flood(urls, study.slug, bot))
        elapsed = time.monotonic() - started
        created = Participant.objects.filter(study=study).count()
        codes = Counter(status for status, _ in results)
        # A real participant arriving during the flood, from another address: the link's
        # page, then Start.
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        headers = {"X-Forwarded-For": "198.51.100.23"}
        link = f"{urls[0]}/s/{study.slug}/"
        opened = urllib.request.Request(
            f"{link}?PROLIFIC_PID=5f1a2b3c4d5e6f7a8b9c0d1e", headers=headers
        )
        with browser.open(opened, timeout=10) as response:
            start_page = response.read().decode()
        fields = {
            "csrfmiddlewaretoken": CSRF_RE.search(start_page).group(1),
            **dict(HIDDEN_RE.findall(start_page)),
        }
        start = urllib.request.Request(link, data=urlencode(fields).encode(), headers=headers)
        with browser.open(start, timeout=10) as response:
            real_page = response.read().decode()
    finally:
        _stop(processes)
    print(f"flood of {FLOOD}: {dict(codes)} in {elapsed:.2f}s, {created} created")  # noqa: T201 (-s shows it)
    assert codes[302] == created and codes[302] + codes[429] == FLOOD
    if os.environ.get("REDIS_URL"):
        assert created == FLOOD_PER_IP  # counted exactly across both processes
    else:
        # The file cache counts by read-then-write: racing processes may admit a few more.
        assert FLOOD_PER_IP <= created <= 2 * FLOOD_PER_IP
    assert all(retry.isdigit() for status, retry in results if status == 429)
    assert "This study is full" not in real_page  # the bots took nobody's place
    assert Participant.objects.filter(prolific_pid="5f1a2b3c4d5e6f7a8b9c0d1e").exists()
