"""The production 404 and 500 pages, also under `make run` (DEBUG with FRIENDLY_ERRORS)."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_production_renders_the_friendly_404(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert 'id="not-found"' in response.content.decode()


@pytest.fixture
def development(settings):
    settings.DEBUG = True
    settings.FRIENDLY_ERRORS = True
    return settings


def test_make_run_renders_the_friendly_404_for_an_unknown_address(client, development):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'id="not-found"' in html and "URLconf" not in html


def test_make_run_renders_the_friendly_404_for_a_view_s_http404(client, development):
    response = client.get(reverse("participation:entry", args=["no-such-study"]))
    assert response.status_code == 404
    assert 'id="not-found"' in response.content.decode()


def test_without_the_flag_development_keeps_django_s_technical_page(client, settings):
    settings.DEBUG = True
    settings.FRIENDLY_ERRORS = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "URLconf" in response.content.decode()


def test_make_run_renders_the_friendly_500_and_logs_the_traceback(client, development, caplog):
    from studyapp.core import errors

    class Boom(Exception):
        pass

    middleware = errors.FriendlyErrorsMiddleware(lambda request: None)
    request = client.get("/healthz").wsgi_request
    response = middleware.process_exception(request, Boom("secret detail"))
    assert response.status_code == 500
    html = response.content.decode()
    assert 'id="server-error"' in html and "secret detail" not in html
    assert any(record.exc_info and record.exc_info[0] is Boom for record in caplog.records)
