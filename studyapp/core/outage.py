"""A database that is briefly away gives a calm page that retries by itself, not a 500.

PostgreSQL restarting or failing over makes a view's query fail (the pool's own wait,
DB_POOL_TIMEOUT_S, has run out). Nothing was stored, so reloading is exactly right: the
answer is 503 with Retry-After and a page that reloads itself after a few seconds. The page
is rendered without the request (no session, messages or CSRF token: each of those would
need the database too).
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.deprecation import MiddlewareMixin
from django.views import defaults

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5


def is_outage(exception: Exception) -> bool:
    """A database that is away or busy, not a bug: PostgreSQL's operational errors (refused
    or broken connections, the pool's timeout, a server shutting down) and SQLite's "locked"
    or "busy". SQLite also reports a missing table as operational: that one stays a 500."""
    if isinstance(exception, InterfaceError):
        return True
    if not isinstance(exception, OperationalError):
        return False
    cause = exception.__cause__
    if cause is not None and type(cause).__module__.startswith("sqlite3"):
        return any(word in str(cause) for word in ("locked", "busy"))
    return True


def unavailable_response(request: HttpRequest) -> HttpResponse:
    html = render_to_string(
        "unavailable.html",
        {"retry_after_s": RETRY_AFTER_S, "retry_url": request.get_full_path()},
    )
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """An outage raised by a view: 503, logged as a warning (no traceback per request)."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_outage(exception):
            return None
        # The type only: a database error's text may quote values (a PID, an answer).
        logger.warning("database unavailable (%s): answered 503", type(exception).__name__)
        return unavailable_response(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an outage raised outside a view (a middleware loading or saving the
    session) still gets the 503 page. Django calls this inside its `except` block, so the
    exception is sys.exc_info()'s."""
    exception = sys.exc_info()[1]
    if isinstance(exception, Exception) and is_outage(exception):
        return unavailable_response(request)
    return defaults.server_error(request)
