"""The API's rate limit: requests per token over fixed windows, counted in Django's cache
(Redis when REDIS_URL is set, so every process shares the count). A cache that fails lets
the request through (logged without the token), as participation.limits does."""

from __future__ import annotations

import time

from django.conf import settings

from studyapp.core.ratelimit import fixed_window_wait

clock = time.time


def rate_limit(*, token_id: int, now: float | None = None) -> int | None:
    """Count one request of this token; the seconds to wait when over the limit, else None."""
    return fixed_window_wait(
        key=f"api-rate:{token_id}",
        limit=settings.API_RATE_LIMIT,
        window_s=settings.API_RATE_WINDOW_S,
        now=clock() if now is None else now,
        what="API",
    )
