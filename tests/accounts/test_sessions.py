"""Investigators' sessions end after a working day without activity; participants' last."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from studyapp.accounts.sessions import REFRESHED_AT
from tests.factories import make_control_arm, make_scenario, make_study, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-test-password"
EIGHT_HOURS = 8 * 60 * 60


def sign_in(client) -> None:
    make_user("alice", password=PASSWORD)
    response = client.post(reverse("account_login"), {"login": "alice", "password": PASSWORD})
    assert response.status_code == 302


def stored_expiry(client):
    return Session.objects.get(session_key=client.session.session_key).expire_date


def test_an_investigators_session_lasts_a_working_day(client, settings):
    assert settings.INVESTIGATOR_SESSION_AGE_S == EIGHT_HOURS
    sign_in(client)
    assert client.session.get_expiry_age() == EIGHT_HOURS
    assert client.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == EIGHT_HOURS
    left = stored_expiry(client) - timezone.now()
    assert timedelta(hours=7, minutes=59) < left <= timedelta(hours=8)


def test_an_idle_investigator_is_signed_out(client):
    sign_in(client)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("analysis:study_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_activity_pushes_the_end_forward(client):
    sign_in(client)
    # Ten minutes later (the session says it was refreshed then; its end is that close).
    session = client.session
    session[REFRESHED_AT] -= 600
    session.save()
    Session.objects.update(expire_date=timezone.now() + timedelta(hours=8, minutes=-10))

    assert client.get(reverse("analysis:study_list")).status_code == 200

    left = stored_expiry(client) - timezone.now()
    assert left > timedelta(hours=7, minutes=59)


def test_requests_close_together_do_not_rewrite_the_session(client):
    sign_in(client)
    before = stored_expiry(client)
    client.get(reverse("analysis:study_list"))
    client.get(reverse("analysis:study_list"))
    assert stored_expiry(client) == before


def test_a_session_that_began_before_the_rule_gets_the_short_age(client):
    # force_login writes the session directly, as a login from before this rule left it.
    client.force_login(make_user("alice"))
    assert client.session.get_expiry_age() == 60 * 60 * 24 * 7
    client.get(reverse("analysis:study_list"))
    assert client.session.get_expiry_age() == EIGHT_HOURS


def test_a_participants_session_stays_long(client, settings):
    study = make_study("alpha")
    make_scenario(study, "s1")
    make_scenario(study, "s2")
    make_control_arm(study)
    response = client.post(f"/s/{study.slug}/", {"PROLIFIC_PID": "5f0000000000000000000001"})
    assert response.status_code == 302
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE == 60 * 60 * 24 * 7
    assert REFRESHED_AT not in client.session
