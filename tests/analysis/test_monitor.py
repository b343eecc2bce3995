"""The live monitor (/studies/<slug>/monitor/): who is where now, replies in flight, recent
failures by error code; access as the study page's; never participant or model text; a
fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from studyapp.chat.models import Conversation, Message
from studyapp.chat.monitor import error_code, study_reply_monitor
from studyapp.participation.models import Participant, Task
from studyapp.participation.services import participant_consent, participant_read_instructions
from studyapp.participation.transitions import participant_record_entry
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study, make_user

SECRET = "my-private-symptom-text"


def enter(study) -> Participant:
    participant = Participant.objects.create(study=study)
    participant_record_entry(participant=participant)
    return participant


def chatting(study) -> Participant:
    """Allocated (no screening), instructions read (no check): at scenario 1."""
    p = participant_consent(participant_id=enter(study).pk)
    return participant_read_instructions(participant_id=p.pk)


def reply(participant: Participant, sequence: int, status: str, *, error: str = "", ago=None):
    task = Task.objects.get(participant=participant, position=1)
    arm = participant.arm
    conversation, _created = Conversation.objects.get_or_create(
        task=task,
        defaults={
            "arm": arm,
            "endpoint": arm.endpoint,
            "base_url": arm.endpoint.base_url,
            "model": arm.endpoint.model,
            "min_turns": 1,
            "max_turns": 10,
            "timeout_s": 10,
        },
    )
    Message.objects.create(
        conversation=conversation,
        sequence=sequence,
        role=Message.Role.USER,
        text=SECRET,
        status=Message.Status.COMPLETE,
    )
    now = timezone.now()
    ended = None if status == Message.Status.STREAMING else now - (ago or timedelta(seconds=30))
    return Message.objects.create(
        conversation=conversation,
        sequence=sequence + 1,
        role=Message.Role.ASSISTANT,
        text=SECRET,
        status=status,
        error=error,
        completed_at=ended,
        heartbeat_at=now if status == Message.Status.STREAMING else None,
    )


@pytest.fixture
def live_study(db):
    study = make_study("live", scenarios_per_participant=1)
    make_scenario(study, "s1")
    make_llm_arm(study, make_endpoint(name="model-a"), key="llm")
    enter(study)  # opened the link, not consented
    busy, failing, fine = chatting(study), chatting(study), chatting(study)
    reply(busy, 1, Message.Status.STREAMING)
    reply(
        failing,
        1,
        Message.Status.ERROR,
        error=f"timeout (HTTP 504): {SECRET}",
        ago=timedelta(seconds=90),
    )
    reply(failing, 3, Message.Status.ERROR, error="server_error (HTTP 503): upstream")
    reply(fine, 1, Message.Status.COMPLETE)
    # Outside the window: not counted.
    reply(fine, 3, Message.Status.ERROR, error="connection: reset", ago=timedelta(minutes=30))
    return study


def test_error_codes_leave_the_detail_out():
    assert error_code("timeout (HTTP 504): read timed out") == "timeout (HTTP 504)"
    assert error_code("internal: KeyError") == "internal"
    assert error_code("") == "unknown"


def test_it_counts_replies_in_flight_and_failures_in_the_window(live_study):
    monitor = study_reply_monitor(study=live_study)
    assert len(monitor.in_flight) == 1 and monitor.stale == 0
    assert (monitor.completed, monitor.failed) == (1, 2)
    assert monitor.failures_by_code == {"timeout (HTTP 504)": 1, "server_error (HTTP 503)": 1}
    assert [f.code for f in monitor.recent_failures] == [
        "server_error (HTTP 503)",
        "timeout (HTTP 504)",
    ]


def test_the_page_shows_who_is_where_and_never_their_text(client, live_study):
    client.force_login(make_user("root", superuser=True))
    response = client.get(reverse("analysis:monitor", args=[live_study.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-get="/studies/live/monitor/live/"' in html and 'hx-trigger="every 5s"' in html
    assert '<strong id="monitor-active-total">4</strong>' in html
    assert '<strong id="monitor-streaming">1</strong>' in html
    assert '<strong id="monitor-failed">2 failed</strong>' in html
    assert "last 10 minutes" in html
    for p in Participant.objects.filter(study=live_study):
        assert f'data-participant="{p.pk}"' in html
    assert "At scenario 1" in html
    assert "model-a" in html  # the endpoint's health card
    assert SECRET not in html
    assert "upstream" not in html


def test_the_live_block_answers_htmx_polls(client, live_study):
    client.force_login(make_user("root", superuser=True))
    url = reverse("analysis:monitor_live", args=[live_study.slug])
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="monitor-live"')
    assert "<html" not in html


def test_someone_not_on_the_study_gets_404(client, live_study):
    client.force_login(make_user("charlie"))
    assert client.get(reverse("analysis:monitor", args=[live_study.slug])).status_code == 404
    url = reverse("analysis:monitor_live", args=[live_study.slug])
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 404


def test_the_study_page_links_it(client, live_study):
    client.force_login(make_user("root", superuser=True))
    html = client.get(reverse("analysis:study_detail", args=[live_study.slug])).content.decode()
    assert reverse("analysis:monitor", args=[live_study.slug]) in html


def test_a_poll_costs_the_same_whatever_the_number_of_participants(client, live_study):
    client.force_login(make_user("root", superuser=True))
    url = reverse("analysis:monitor_live", args=[live_study.slug])
    client.get(url, headers={"HX-Request": "true"})  # the session refresh after login
    with CaptureQueriesContext(connection) as small:
        client.get(url, headers={"HX-Request": "true"})
    for _ in range(5):
        reply(chatting(live_study), 1, Message.Status.ERROR, error="timeout: slow")
    with CaptureQueriesContext(connection) as large:
        response = client.get(url, headers={"HX-Request": "true"})
    assert '<strong id="monitor-failed">7 failed</strong>' in response.content.decode()
    assert len(large.captured_queries) == len(small.captured_queries) <= 14
