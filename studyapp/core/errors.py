"""Friendly error pages in development too.

In production (DEBUG off) Django renders templates/404.html and 500.html itself. Under
`make run` (DEBUG on, for the development conveniences) it would show its technical pages,
which a person trying the demo takes for a crash. With FRIENDLY_ERRORS (run_embedded sets
STUDYAPP_FRIENDLY_ERRORS=1) this middleware renders the same pages as production; the
traceback of a 500 still goes to the console through Django's request logger.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.template import loader

logger = logging.getLogger("django.request")


class FriendlyErrorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # No URL matched (request.resolver_match unset): Django answered its technical 404
        # before any view or process_exception ran. A view's own 404 response is kept.
        if (
            settings.DEBUG
            and settings.FRIENDLY_ERRORS
            and response.status_code == 404
            and getattr(request, "resolver_match", None) is None
        ):
            return _not_found(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not (settings.DEBUG and settings.FRIENDLY_ERRORS):
            return None
        if isinstance(exception, Http404):
            return _not_found(request)
        logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=(type(exception), exception, exception.__traceback__),
        )
        return HttpResponse(loader.render_to_string("500.html"), status=500)


def _not_found(request: HttpRequest) -> HttpResponse:
    return HttpResponse(loader.render_to_string("404.html", request=request), status=404)
