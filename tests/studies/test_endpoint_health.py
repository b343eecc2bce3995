"""Live endpoint health from the participants' real chats (chat.health): the rule, the one
query, the study page's card and /healthz; and the issue's case, an endpoint that goes
down during a live study."""

from __future__ import annotations

from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse
from django.utils import timezone

from studyapp.accounts.services import user_make_investigator
from studyapp.chat import health
from studyapp.chat.health import (
    EndpointHealth,
    ReplyRow,
    live_endpoint_health,
    study_endpoint_health,
    summarize,
)
from studyapp.chat.models import Conversation, Message
from studyapp.chat.services import conversation_get_or_create, message_store_user, reply_stream
from studyapp.devtools.scripted_server import ScriptedConfig, ScriptedServerThread
from studyapp.participation.models import Participant, Task
from studyapp.studies.models import Study
from tests.conftest import FAST
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def row(seconds_ago: float, ok: bool, ttft: float | None = 100.0, name: str = "m") -> ReplyRow:
    return ReplyRow(1, name, ok, NOW - timedelta(seconds=seconds_ago), ttft if ok else None)


# --- The rule (pure) -------------------------------------------------------------------------


def test_three_failures_in_a_row_are_degraded_whatever_came_before():
    rows = [row(300 - i, True) for i in range(20)] + [
        row(30, False),
        row(20, False),
        row(10, False),
    ]
    [h] = summarize(rows)
    assert (h.replies, h.errors, h.failed_in_a_row) == (23, 3, 3)
    assert h.degraded and h.reason == "its last 3 replies failed"
    assert h.last_success_at == NOW - timedelta(seconds=281)
    assert h.last_failure_at == NOW - timedelta(seconds=10)


def test_two_failures_after_a_success_are_not_yet_degraded():
    [h] = summarize([row(60, True), row(30, False), row(20, False)])
    assert h.failed_in_a_row == 2 and not h.degraded and h.state == "ok"


def test_a_fifth_of_replies_failing_is_degraded_even_between_successes():
    rows = [row(100 - i, i % 5 != 0) for i in range(10)]  # 2 of 10 fail, the last succeeds
    [h] = summarize(rows)
    assert (h.errors, h.failed_in_a_row, h.error_rate) == (2, 0, 0.2)
    assert h.degraded and "2 of its 10 replies" in h.reason


def test_a_high_rate_over_too_few_replies_is_not_degraded():
    [h] = summarize([row(50, False), row(40, True), row(30, False), row(20, True)])
    assert h.error_rate == 0.5 and not h.degraded


def test_the_median_time_to_first_token_is_of_the_successes():
    ttfts = [120.0, 80.0, 400.0, 95.0]
    rows = [row(50 - i, True, t) for i, t in enumerate(ttfts)] + [row(1, False)]
    [h] = summarize(rows)
    assert h.median_ttft_ms == pytest.approx(np.median(ttfts)) == pytest.approx(107.5)


def test_an_expected_endpoint_without_replies_is_listed_as_no_recent_chats():
    healths = summarize([row(10, True, name="busy")], expected=["busy", "quiet"])
    assert [(h.name, h.state) for h in healths] == [("busy", "ok"), ("quiet", "no recent chats")]
    assert healths[1] == EndpointHealth(endpoint_id=None, name="quiet")


# --- The query -------------------------------------------------------------------------------


def reply(conversation: Conversation, sequence: int, status: str, finished: datetime, ttft=None):
    return Message.objects.create(
        conversation=conversation,
        sequence=sequence,
        role=Message.Role.ASSISTANT,
        status=status,
        time_to_first_token_ms=ttft,
        completed_at=finished,
        error="" if status == "complete" else "connection: refused",
    )


def conversation_for(study: Study) -> Conversation:
    arm = study.arms.get(key="llm")
    participant = make_participant(study, arm=arm, status=Participant.Status.CONSENTED)
    task = Task.objects.create(
        participant=participant,
        scenario=study.scenarios.first(),
        position=1,
        status=Task.Status.ACTIVE,
        started_at=timezone.now(),
    )
    return Conversation.objects.create(
        task=task,
        arm=arm,
        endpoint=arm.endpoint,
        base_url=arm.endpoint.base_url,
        model=arm.endpoint.model,
        min_turns=1,
        max_turns=10,
        timeout_s=5,
    )


@pytest.fixture
def live(db):
    study = make_study("live")
    make_scenario(study, "live-s1")
    make_llm_arm(study, make_endpoint(name="live-model"))
    return study


@pytest.mark.django_db
def test_it_reads_only_finished_replies_in_the_window_in_one_query(
    live, django_assert_num_queries
):
    conversation = conversation_for(live)
    now = timezone.now()
    reply(conversation, 1, "complete", now - timedelta(minutes=30), 50)  # before the window
    reply(conversation, 2, "complete", now - timedelta(minutes=5), 200)
    reply(conversation, 3, "interrupted", now - timedelta(minutes=4))  # the participant left
    reply(conversation, 4, "error", now - timedelta(minutes=3))
    Message.objects.create(  # still streaming
        conversation=conversation, sequence=5, role="assistant", status="streaming"
    )
    with django_assert_num_queries(1):
        [h] = live_endpoint_health(now=now)
    assert (h.name, h.replies, h.errors, h.median_ttft_ms) == ("live-model", 2, 1, 200.0)


@pytest.mark.django_db
def test_only_running_studies_endpoints_are_in_healthz_health(live):
    conversation = conversation_for(live)
    reply(conversation, 1, "error", timezone.now() - timedelta(seconds=10))
    assert [h.name for h in live_endpoint_health()] == ["live-model"]
    # Paused (a live study or a pilot): those inside still chat, so it is still watched.
    for status in (Study.Status.PAUSED, Study.Status.PILOT_PAUSED, Study.Status.PILOT):
        Study.objects.filter(pk=live.pk).update(status=status)
        assert [h.name for h in live_endpoint_health()] == ["live-model"], status
    for status in (Study.Status.CLOSED, Study.Status.DRAFT):
        Study.objects.filter(pk=live.pk).update(status=status)
        assert live_endpoint_health() == [], status


@pytest.mark.django_db
def test_it_reads_at_most_the_newest_replies_of_each_endpoint(live, monkeypatch):
    monkeypatch.setattr(health, "REPLIES_PER_ENDPOINT", 3)
    conversation = conversation_for(live)
    now = timezone.now()
    for i in range(3):
        reply(conversation, 1 + i, "error", now - timedelta(minutes=6, seconds=i))
    for i in range(3):
        reply(conversation, 10 + i, "complete", now - timedelta(seconds=30 + i), 100)
    [h] = live_endpoint_health(now=now)
    assert (h.replies, h.errors) == (3, 0)


# --- The case: an endpoint goes down during a live study ------------------------------


async def chat_turn(task: Task, text: str) -> str:
    """One participant turn through the real chat services and client: the status the
    reply was stored with."""
    from channels.db import database_sync_to_async

    @database_sync_to_async
    def store() -> tuple[int, int]:
        conversation = conversation_get_or_create(task=task)
        stored = message_store_user(
            conversation_id=conversation.pk, text=text, client_message_id=f"c-{task.pk}"
        )
        return conversation.pk, stored.message_id

    conversation_id, message_id = await store()
    async with aclosing(
        reply_stream(conversation_id=conversation_id, user_message_id=message_id)
    ) as events:
        statuses = [e.status async for e in events if e.kind == "end"]
    return statuses[-1]


@pytest.fixture
def own_server():
    """A scripted model server of this test's own, which it may stop."""
    server = ScriptedServerThread(ScriptedConfig(**FAST)).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True, scope="module")
def _chat_pools_closed(django_db_setup, django_db_blocker):
    # As tests/chat/conftest.py: on PostgreSQL each event loop's chat pool is closed
    # before the test database is dropped.
    yield
    from studyapp.chat import pgturns

    pgturns.close_dead_pools()


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_that_goes_down_shows_on_the_study_page_and_in_healthz(client, own_server):
    alice = make_user("alice")
    user_make_investigator(user=alice)
    study = make_study("outage", title="Outage study")
    make_member(study, alice)
    scenario = make_scenario(study, "outage-s1")
    arm = make_llm_arm(study, make_endpoint(own_server.base_url, name="triage-model"))
    make_control_arm(study)
    tasks = []
    for _ in range(5):
        participant = make_participant(
            study,
            arm=arm,
            status=Participant.Status.CONSENTED,
            instructions_read_at=timezone.now(),
        )
        tasks.append(
            Task.objects.create(
                participant=participant,
                scenario=scenario,
                position=1,
                status=Task.Status.ACTIVE,
                started_at=timezone.now(),
            )
        )
    page = reverse("analysis:study_detail", args=[study.slug])
    client.force_login(alice)

    # Two participants chat while the server is up.
    for task in tasks[:2]:
        assert async_to_sync(chat_turn)(task, "My head hurts.") == "complete"
    html = client.get(page).content.decode()
    assert 'id="endpoint-health"' in html and "triage-model" in html
    assert "is failing" not in html
    assert client.get("/healthz").json()["status"] == "ok"

    # The model server goes away; the next three participants' replies fail.
    own_server.stop()
    for task in tasks[2:]:
        assert async_to_sync(chat_turn)(task, "My chest hurts.") == "error"
    assert Message.objects.filter(status="error", error__startswith="connection").count() == 3
    # Simulated time: the successes were 5 minutes ago, the failures under a minute ago.
    now = timezone.now()
    Message.objects.filter(status="complete").update(completed_at=now - timedelta(minutes=5))
    for i, message in enumerate(Message.objects.filter(status="error").order_by("pk")):
        Message.objects.filter(pk=message.pk).update(
            completed_at=now - timedelta(seconds=50 - 10 * i)
        )

    response = client.get(page)
    html = response.content.decode()
    assert "Endpoint <strong>triage-model</strong> is failing: its last 3 replies failed" in html
    figures = client.get(reverse("analysis:study_figures", args=[study.slug])).content.decode()
    assert "triage-model</strong> is failing" in figures  # the polled block shows it too

    healthz = client.get("/healthz")
    assert healthz.status_code == 200  # the web process is fine; the endpoint is not
    body = healthz.json()
    assert body["status"] == "degraded" and body["model_endpoints"] == "degraded"
    assert body["degraded"] == [
        {
            "endpoint": "triage-model",
            "id": arm.endpoint_id,
            "reason": "its last 3 replies failed",
        }
    ]
    # Nothing of the participants: no text, no token.
    raw = healthz.content.decode()
    assert "hurts" not in raw
    assert not any(t.participant.token in raw for t in tasks)

    # Ten minutes on, with no new chats, the failures have left the window.
    later = now + timedelta(minutes=11)
    assert live_endpoint_health(now=later) == []
    [quiet] = study_endpoint_health(study=study, now=later)
    assert (quiet.name, quiet.state) == ("triage-model", "no recent chats")


@pytest.mark.django_db
def test_healthz_reads_the_endpoints_in_at_most_two_queries(
    client, live, django_assert_max_num_queries
):
    conversation = conversation_for(live)
    for i in range(3):
        reply(conversation, 1 + i, "error", timezone.now() - timedelta(seconds=10 + i))
    with django_assert_max_num_queries(2):  # SELECT 1, then the endpoints' replies
        body = client.get("/healthz").json()
    assert body["degraded"][0]["endpoint"] == "live-model"


@pytest.mark.django_db
def test_it_looks_only_at_the_newest_messages(live, monkeypatch):
    # The bound that keeps the query's cost flat as the table grows (chat.health).
    conversation = conversation_for(live)
    now = timezone.now()
    for i in range(3):
        reply(conversation, 1 + i, "error", now - timedelta(seconds=30))
    for i in range(2):
        reply(conversation, 10 + i, "complete", now - timedelta(seconds=60), 100)
    [h] = live_endpoint_health(now=now)
    assert (h.replies, h.errors) == (5, 3)
    monkeypatch.setattr(health, "MESSAGES_SCANNED", 2)
    [h] = live_endpoint_health(now=now)
    assert (h.replies, h.errors) == (2, 0)  # the two newest rows, whatever their times
