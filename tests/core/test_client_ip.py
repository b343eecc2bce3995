"""The client address behind trusted proxies (studyapp.core.client_ip)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from studyapp.core.client_ip import client_ip, client_ip_from

LOOPBACK = ["127.0.0.1", "::1"]


def meta(remote: str, xff: str | None = None, real_ip: str | None = None) -> dict:
    data = {"REMOTE_ADDR": remote}
    if xff is not None:
        data["HTTP_X_FORWARDED_FOR"] = xff
    if real_ip is not None:
        data["HTTP_X_REAL_IP"] = real_ip
    return data


def test_it_is_the_peer_when_no_proxy_is_involved():
    assert client_ip_from(meta("203.0.113.7"), LOOPBACK) == "203.0.113.7"


def test_it_ignores_forwarded_headers_from_an_untrusted_peer():
    spoofed = meta("203.0.113.7", xff="198.51.100.1", real_ip="198.51.100.2")
    assert client_ip_from(spoofed, LOOPBACK) == "203.0.113.7"


def test_it_reads_the_address_nginx_appended_on_loopback():
    assert client_ip_from(meta("127.0.0.1", xff="203.0.113.7"), LOOPBACK) == "203.0.113.7"


def test_a_client_cannot_choose_its_address_by_sending_the_header_itself():
    # The client sent "X-Forwarded-For: 1.2.3.4"; nginx appended the real peer.
    forged = meta("127.0.0.1", xff="1.2.3.4, 203.0.113.7")
    assert client_ip_from(forged, LOOPBACK) == "203.0.113.7"


def test_it_skips_every_trusted_hop_from_the_right():
    chain = meta("10.0.0.5", xff="1.2.3.4, 203.0.113.7, 10.0.0.9")
    assert client_ip_from(chain, ["10.0.0.0/8"]) == "203.0.113.7"


def test_it_falls_back_to_x_real_ip():
    assert client_ip_from(meta("::1", real_ip="2001:db8::42"), LOOPBACK) == "2001:db8::42"


@pytest.mark.parametrize("xff", ["", "unknown", "127.0.0.1"])
def test_without_a_usable_untrusted_hop_it_is_the_nearest_trusted_address(xff):
    assert client_ip_from(meta("127.0.0.1", xff=xff), LOOPBACK) == "127.0.0.1"


def test_an_ipv4_mapped_peer_is_the_ipv4_address():
    assert client_ip_from(meta("::ffff:127.0.0.1", xff="203.0.113.7"), LOOPBACK) == "203.0.113.7"


def test_a_missing_peer_is_unknown():
    assert client_ip_from({}, LOOPBACK) == ""


def test_it_follows_the_setting(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_ip(request) == "10.1.2.3"  # default: loopback only
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request) == "203.0.113.7"
