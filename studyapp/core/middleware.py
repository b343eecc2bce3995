"""Middleware of the core app: request metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from studyapp.core import metrics

# Requests that matched no URL pattern (404s, static files served by whitenoise, the SSL
# redirect) share one label: their paths would be unbounded and may hold tokens.
UNRESOLVED = "unresolved"


def request_view_name(request: HttpRequest) -> str:
    """The resolved URL name ("participation:home"), never the path (it holds tokens).

    An unnamed pattern falls back to the view's dotted path, which is just as bounded.
    """
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else UNRESOLVED


class MetricsMiddleware:
    """Counts every response by method, status and URL name, and times it.

    Both sync and async, so async views (healthz, exports) are not pushed through a thread.
    The time is to the response's headers: a streamed body (exports) is not included.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self.__acall__(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._observe(request, response, started)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = await self.get_response(request)
        self._observe(request, response, started)
        return response

    @staticmethod
    def _observe(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
        metrics.http_request_observed(
            request.method or "",
            response.status_code,
            request_view_name(request),
            time.perf_counter() - started,
        )
