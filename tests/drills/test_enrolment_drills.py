"""Fault drills on enrolment, through nginx: a PostgreSQL crash while people enrol, and a
bot flood against a Prolific study with quotas."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest

from tests.drills.client import Browser, Participant
from tests.drills.stack import Stack, print_drill

pytestmark = [pytest.mark.drill, pytest.mark.timeout(600)]

ENROL = "drill-enrol"
PROLIFIC = "drill-prolific"
PROLIFIC_STUDY_ID = "64f0c0ffee0123456789abcd"

SETUP = f"""
from studyapp.studies.models import ModelEndpoint, Study
from tests.factories import make_control_arm, make_llm_arm, make_scenario, make_study
endpoint = ModelEndpoint.objects.get(name="drill-model")
if not Study.objects.filter(slug="{ENROL}").exists():
    study = make_study("{ENROL}", scenarios_per_participant=1)
    make_scenario(study, "{ENROL}-s1")
    make_llm_arm(study, endpoint)
    make_control_arm(study)
if not Study.objects.filter(slug="{PROLIFIC}").exists():
    study = make_study(
        "{PROLIFIC}", scenarios_per_participant=1, quota_per_arm=5,
        prolific_study_id="{PROLIFIC_STUDY_ID}", code_study_full="FULL0001",
    )
    make_scenario(study, "{PROLIFIC}-s1")
    make_llm_arm(study, endpoint)
    make_control_arm(study)
"""


@pytest.fixture
def studies(healthy: Stack) -> Stack:
    healthy.python(SETUP)
    return healthy


def participant_counts(stack: Stack, slug: str) -> dict[str, int]:
    rows = stack.sql(
        """
        SELECT p.prolific_pid, count(*), count(a.id)
        FROM participation_participant p
        JOIN studies_study s ON s.id = p.study_id
        LEFT JOIN participation_allocation a ON a.participant_id = p.id
        WHERE s.slug = %s GROUP BY p.prolific_pid
        """,
        (slug,),
    )
    return {pid: (n, allocations) for pid, n, allocations in rows}


async def test_a_postgresql_crash_during_enrolment_loses_and_duplicates_nobody(studies: Stack):
    people = [
        Participant(Browser(studies.url), pid=f"pg{i:03d}{uuid.uuid4().hex[:8]}")
        for i in range(40)
    ]
    try:
        jobs = []
        for person in people[:20]:
            jobs.append(asyncio.create_task(person.advance(ENROL)))
        # While those 20 are on their way, every PostgreSQL process is killed; it stays
        # down 12 s (longer than the pool's 10 s wait, so some requests do fail) while 20
        # more arrive, then starts (crash recovery).
        await asyncio.sleep(0.3)
        crashed_at = time.monotonic()
        restart = asyncio.create_task(
            asyncio.to_thread(studies.restart_postgres, crash=True, down_s=12.0)
        )
        for person in people[20:]:
            jobs.append(asyncio.create_task(person.advance(ENROL)))
            await asyncio.sleep(0.1)
        await restart
        back_at = time.monotonic()
        failures = await asyncio.gather(*jobs)
        done_at = time.monotonic()
    finally:
        for person in people:
            await person.browser.close()
    counts = participant_counts(studies, ENROL)
    failed = Counter(str(f) for person in people for f in person.failed)
    duplicated = sum(n - 1 for n, _ in counts.values())
    lost = sum(1 for p in people if counts.get(p.pid, (0, 0))[1] != 1)
    verified = studies.manage("verify_allocation", ENROL)
    print_drill(
        "PostgreSQL kill -9 and restart during enrolment",
        participants=len(people),
        participants_lost=lost,
        participants_duplicated=duplicated,
        failed_requests_retried=sum(failures),
        failed_requests_by_answer=dict(failed),
        postgres_down_s=round(back_at - crashed_at, 1),
        everyone_in_after_s=round(done_at - back_at, 1),
        verify_allocation=verified.strip().splitlines()[0][:80],
    )
    assert lost == 0 and duplicated == 0
    assert "OK" in verified
    # People who arrived during the outage saw the "one moment" page (503), never a 500.
    assert failed["503"] > 0 and "500" not in failed, failed


async def test_a_bot_flood_cannot_fill_a_prolific_studys_quotas(studies: Stack):
    bot = Browser(studies.url)  # one address, as fast as it can
    anonymous = [Browser(studies.url) for _ in range(10)]
    started = time.monotonic()
    statuses: dict[str, list[int]] = {"valid_pid_one_address": [], "no_pid_or_study": []}
    try:

        async def flood(i: int) -> None:
            person = Participant(bot, pid=f"BOT{uuid.uuid4().hex[:21]}")
            status = await person.enter(PROLIFIC, STUDY_ID=PROLIFIC_STUDY_ID)
            statuses["valid_pid_one_address"].append(status)
            if status == 200 and "/consent" in person.page:
                # A bot that consents and stops: allocated, but it never begins.
                await bot.post_form(person.page, person.url, agree="1")

        await asyncio.gather(*(flood(i) for i in range(300)))

        async def stranger(browser: Browser, i: int) -> None:
            for path in (
                f"/s/{PROLIFIC}/",
                f"/s/{PROLIFIC}/?PROLIFIC_PID=5f{uuid.uuid4().hex[:22]}",
                f"/s/{PROLIFIC}/?PROLIFIC_PID=5f{uuid.uuid4().hex[:22]}&STUDY_ID=wrong",
            ):
                status, _, _ = await browser.get(path)
                statuses["no_pid_or_study"].append(status)

        await asyncio.gather(*(stranger(b, i) for i, b in enumerate(anonymous)))
        flood_s = time.monotonic() - started

        # Ten real participants arrive afterwards, each from their own address.
        real = [
            Participant(Browser(studies.url), pid=f"5f{uuid.uuid4().hex[:22]}") for _ in range(10)
        ]
        for person in real:
            await person.advance(PROLIFIC, STUDY_ID=PROLIFIC_STUDY_ID, SESSION_ID=uuid.uuid4().hex)
        admitted = sum(1 for p in real if p.at_task())
    finally:
        for browser in [bot, *anonymous]:
            await browser.close()
        for person in locals().get("real", []):
            await person.browser.close()
    counts = participant_counts(studies, PROLIFIC)
    bots_created = sum(1 for pid in counts if pid.startswith("BOT"))
    strangers_created = len(counts) - bots_created - admitted
    flood = statuses["valid_pid_one_address"]
    print_drill(
        "bot flood against a Prolific study with quotas (5 per arm)",
        bot_requests=len(flood) + len(statuses["no_pid_or_study"]),
        bot_requests_refused_429=flood.count(429),
        bot_participants_created=bots_created,
        requests_without_pid_or_study_id_admitted=strangers_created,
        real_participants_admitted=f"{admitted}/{len(real)}",
        flood_s=round(flood_s, 1),
    )
    assert admitted == len(real)
    assert strangers_created == 0
    assert all(status in (400, 403) for status in statuses["no_pid_or_study"])
    assert flood.count(429) > 0
