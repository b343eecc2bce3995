"""A database that is briefly away: a calm 503 that retries itself, never a 500."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def outage_urls(settings):
    settings.ROOT_URLCONF = "tests.core.outage_urls"


def test_a_database_outage_gives_a_503_page_that_retries_itself(client, outage_urls, caplog):
    caplog.set_level(logging.WARNING)
    response = client.get("/p/a-participant-token/?PROLIFIC_PID=5f0123")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "briefly unavailable" in html
    assert 'content="5;url=/p/a-participant-token/?PROLIFIC_PID=5f0123"' in html
    # The log names the error type only, never the path's token or the PID.
    assert "OperationalError" in caplog.text
    assert "a-participant-token" not in caplog.text and "5f0123" not in caplog.text


def test_other_errors_are_not_dressed_up_as_an_outage(client, outage_urls):
    client.raise_request_exception = False
    assert client.get("/broken/").status_code == 500
    # SQLite calls a missing table "operational" too: a bug (or no migrations), not a wait.
    assert client.get("/no-such-table/").status_code == 500
    assert client.get("/locked/").status_code == 503


def test_an_outage_outside_the_view_also_gets_the_503_page(client, outage_urls, settings):
    # SessionMiddleware saves the session after the view: Django turns what it raises
    # into a 500 at once (convert_exception_to_response), past every process_exception.
    settings.DEBUG = False
    client.raise_request_exception = False
    response = client.get("/session-save-fails/")
    assert response.status_code == 503
    assert "briefly unavailable" in response.content.decode()
