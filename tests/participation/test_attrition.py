"""Timeouts: the periodic task and the participant's own next request."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from studyapp.participation.enrolment import participants_expire_inactive
from studyapp.participation.models import Participant, ParticipantEvent
from studyapp.participation.tasks import expire_inactive_participants_task
from tests.factories import make_participant
from tests.participation.conftest import enter


def age(participant: Participant, minutes: int) -> None:
    Participant.objects.filter(pk=participant.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_it_times_out_only_participants_inactive_past_the_limit(control_study):
    control_study.time_limit_minutes = 60
    control_study.save()
    stale_started = make_participant(control_study)
    stale_consented = make_participant(control_study, status=Participant.Status.CONSENTED)
    fresh = make_participant(control_study, status=Participant.Status.CONSENTED)
    done = make_participant(control_study, status=Participant.Status.COMPLETED)
    for participant in (stale_started, stale_consented, done):
        age(participant, 61)
    age(fresh, 59)
    assert participants_expire_inactive() == 2
    statuses = dict(Participant.objects.values_list("pk", "status"))
    assert statuses[stale_started.pk] == statuses[stale_consented.pk] == "timed_out"
    assert statuses[fresh.pk] == "consented"
    assert statuses[done.pk] == "completed"
    event = ParticipantEvent.objects.get(participant=stale_consented)
    assert (event.kind, event.from_status, event.to_status) == (
        "timed_out",
        "consented",
        "timed_out",
    )
    assert "60 min" in event.reason
    # Running again changes nothing.
    assert participants_expire_inactive() == 0


def test_a_study_without_a_limit_never_times_anyone_out(control_study):
    participant = make_participant(control_study)
    age(participant, 60 * 24 * 30)
    assert participants_expire_inactive() == 0


def test_the_periodic_task_is_scheduled_and_runs_the_service(control_study):
    schedule = settings.CELERY_BEAT_SCHEDULE["expire-inactive-participants"]
    assert schedule["task"] == expire_inactive_participants_task.name
    control_study.time_limit_minutes = 5
    control_study.save()
    age(make_participant(control_study), 6)
    assert expire_inactive_participants_task() == 1


def test_a_participant_returning_after_the_limit_sees_the_timed_out_page(consented):
    study = consented.participant.study
    study.time_limit_minutes = 30
    study.code_timed_out = "LATE0001"
    study.completion_url = "https://app.prolific.com/submissions/complete"
    study.save()
    age(consented.participant, 31)
    page = consented.home()
    assert consented.refresh().status == Participant.Status.TIMED_OUT
    content = page.content.decode()
    assert "inactive for longer than the study allows" in content
    assert 'id="completion-code">LATE0001<' in content
    assert "complete?cc=LATE0001" in content
    # Their forms no longer do anything.
    consented.post("sources", {"sources_text": "too late"}, position=1)
    assert consented.participant.tasks.get(position=1).sources_text == ""


def test_a_participant_within_the_limit_carries_on(control_study, client):
    control_study.time_limit_minutes = 30
    control_study.save()
    flow = enter(client, control_study)
    age(flow.participant, 29)
    flow.post("consent", {"agree": "1"})
    assert flow.refresh().status == Participant.Status.CONSENTED
