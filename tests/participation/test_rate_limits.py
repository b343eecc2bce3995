"""Rate limits on new participants and consents (participation.limits), in the configured
cache: Redis when REDIS_URL is set, the shared file cache otherwise."""

from __future__ import annotations

import logging
import time

import pytest
from django.core.cache import caches
from django.test import Client

from studyapp.participation import limits
from studyapp.participation.limits import Action, rate_limit
from studyapp.participation.models import Participant
from tests.participation.conftest import enter, entry_url
from tests.participation.test_quotas import quota_study

PID = "5f1a2b3c4d5e6f7a8b9c0d1e"


# 20 s into a 60 s window, so no test straddles two windows.
FROZEN = 60 * 28_000_000 + 20.0


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(limits, "clock", lambda: FROZEN)


@pytest.fixture
def small_limits(settings):
    settings.PARTICIPANT_RATE_WINDOW_S = 60
    settings.PARTICIPANT_ENTRY_PER_IP = 3
    settings.PARTICIPANT_ENTRY_PER_STUDY = 5
    settings.PARTICIPANT_CONSENT_PER_IP = 2
    settings.PARTICIPANT_CONSENT_PER_STUDY = 100
    return settings


def from_address(ip: str) -> Client:
    return Client(REMOTE_ADDR=ip)


def test_a_flood_from_one_address_creates_only_the_first_few(control_study, small_limits):
    responses = [from_address("203.0.113.9").post(entry_url(control_study)) for _ in range(12)]
    assert [r.status_code for r in responses] == [302] * 3 + [429] * 9
    assert Participant.objects.filter(study=control_study).count() == 3
    refused = responses[-1]
    assert refused["Retry-After"] == "40"
    page = refused.content.decode()
    assert "participation/busy.html" in [t.name for t in refused.templates]
    assert "Many people are joining right now" in page
    # It tries again by itself, by POSTing the link's parameters again (participant.js).
    assert '<form method="post" action="/s/control-study/" id="retry-form"' in page
    assert f'data-auto-submit-after="{refused["Retry-After"]}"' in page
    assert "http-equiv" not in page
    # A real participant from elsewhere still gets in.
    real = from_address("198.51.100.20").post(entry_url(control_study), {"PROLIFIC_PID": PID})
    assert real.status_code == 302
    assert Participant.objects.filter(prolific_pid=PID).exists()


def test_opening_the_link_is_not_counted(control_study, small_limits):
    # Link previews and scanners GET the link: they use up no one's limit and count nobody.
    bot = from_address("203.0.113.9")
    assert {bot.get(entry_url(control_study)).status_code for _ in range(12)} == {200}
    assert not Participant.objects.exists()
    assert bot.post(entry_url(control_study)).status_code == 302


def test_a_flood_from_many_addresses_meets_the_study_limit(control_study, small_limits):
    codes = [
        from_address(f"198.51.100.{i}").post(entry_url(control_study)).status_code
        for i in range(1, 9)
    ]
    assert codes == [302] * 5 + [429] * 3
    assert Participant.objects.filter(study=control_study).count() == 5


def test_an_address_over_its_limit_does_not_use_up_the_studys(control_study, small_limits):
    for _ in range(10):
        from_address("203.0.113.9").post(entry_url(control_study))
    codes = [
        from_address(f"198.51.100.{i}").post(entry_url(control_study)).status_code
        for i in range(1, 3)
    ]
    assert codes == [302, 302]  # the study has counted 3 + 2 of its 5


def test_resuming_is_never_limited(control_study, small_limits):
    client = from_address("203.0.113.9")
    flow = enter(client, control_study, PROLIFIC_PID=PID)
    for _ in range(5):
        from_address("203.0.113.9").post(entry_url(control_study))  # uses up the address
    for _ in range(5):
        assert client.post(entry_url(control_study), {"PROLIFIC_PID": PID}).status_code == 302
        assert client.post(entry_url(control_study)).status_code == 302
        assert client.get(entry_url(control_study)).status_code == 302
        assert flow.home().status_code == 200
    # Another browser behind the same address resumes them too (not begun yet).
    other = from_address("203.0.113.9").post(entry_url(control_study), {"PROLIFIC_PID": PID})
    assert other.status_code == 302


def test_addresses_behind_the_proxy_are_counted_apart(control_study, small_limits):
    def via_nginx(client_ip: str):
        return Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=client_ip).post(
            entry_url(control_study)
        )

    assert [via_nginx("203.0.113.1").status_code for _ in range(4)] == [302] * 3 + [429]
    assert via_nginx("203.0.113.2").status_code == 302


def test_a_forwarded_header_from_an_untrusted_peer_changes_nothing(control_study, small_limits):
    codes = [
        Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
        .post(entry_url(control_study))
        .status_code
        for i in range(5)
    ]
    assert codes == [302] * 3 + [429] * 2


def test_consents_are_limited_per_address_and_a_resent_one_is_not_counted(
    control_study, small_limits
):
    flows = [enter(from_address(f"198.51.100.{i}"), control_study) for i in range(1, 4)]
    # All three now consent from one address (a shared NAT, say): the limit is two.
    for flow in flows:
        flow.client.defaults["REMOTE_ADDR"] = "203.0.113.50"
    assert flows[0].post("consent", {"agree": "1"}).status_code == 302
    assert flows[0].post("consent", {"agree": "1"}).status_code == 302  # resent: free
    assert flows[1].post("consent", {"agree": "1"}).status_code == 302
    refused = flows[2].post("consent", {"agree": "1"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert flows[2].home().status_code == 200  # their pages are never limited
    assert flows[2].refresh().status == Participant.Status.STARTED
    assert flows[2].participant.arm_id is None  # nothing allocated
    assert flows[2].post("consent", {"decline": "1"}).status_code == 302  # not limited


def test_the_default_limits_let_a_prolific_launch_in(db, settings):
    # 300 people from 300 addresses and a lab of 40 behind one NAT, within a minute.
    study = quota_study("launch")
    clients = [from_address(f"10.{i // 250}.{i % 250}.1") for i in range(300)]
    clients += [from_address("192.0.2.1") for _ in range(40)]
    codes = [
        c.post(entry_url(study), {"PROLIFIC_PID": f"pid-{i:04d}"}).status_code
        for i, c in enumerate(clients)
    ]
    admitted = codes.count(302)
    assert admitted >= settings.PARTICIPANT_ENTRY_PER_STUDY
    assert codes[:300] == [302] * 300
    assert settings.PARTICIPANT_ENTRY_PER_IP >= 40  # the lab fits, were the study not limiting


def test_a_cache_that_is_down_lets_participants_in(control_study, settings, caplog):
    # A real Redis client pointed at a closed port: every cache call fails.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    settings.PARTICIPANT_ENTRY_PER_IP = 1
    client = from_address("203.0.113.9")
    with caplog.at_level(logging.WARNING, logger="studyapp.participation.limits"):
        started = time.monotonic()
        codes = [client.post(entry_url(control_study), {"PROLIFIC_PID": PID}) for _ in range(1)]
        codes += [from_address("203.0.113.9").post(entry_url(control_study)) for _ in range(2)]
        elapsed = time.monotonic() - started
    assert [r.status_code for r in codes] == [302, 302, 302]
    assert elapsed < 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("cache unavailable" in w for w in warnings)
    assert not any(PID in w or "203.0.113.9" in w for w in caplog.messages)


def test_a_cache_error_of_any_kind_fails_open(control_study, monkeypatch, small_limits):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(caches["default"]), "incr", broken)
    assert rate_limit(action=Action.ENTRY, study_id=control_study.pk, ip="203.0.113.9") is None


def test_windows_are_fixed_and_retry_after_counts_down_to_the_next(small_limits):
    start = FROZEN
    for _ in range(3):
        assert rate_limit(action=Action.ENTRY, study_id=1, ip="192.0.2.7", now=start) is None
    limited = rate_limit(action=Action.ENTRY, study_id=1, ip="192.0.2.7", now=start + 10)
    assert limited is not None and limited.scope == "ip" and limited.retry_after_s == 30
    assert rate_limit(action=Action.ENTRY, study_id=1, ip="192.0.2.7", now=start + 41) is None


def test_a_limit_of_zero_is_off(small_limits):
    small_limits.PARTICIPANT_ENTRY_PER_IP = 0
    small_limits.PARTICIPANT_ENTRY_PER_STUDY = 0
    for _ in range(20):
        assert rate_limit(action=Action.ENTRY, study_id=1, ip="192.0.2.7") is None


def test_addresses_are_not_kept_in_the_cache_keys():
    assert "192.0.2.7" not in limits._address_key("192.0.2.7")
