"""The API's rate limit: requests per token over fixed windows, counted in Django's cache
(Redis when REDIS_URL is set, so every process shares the count). A cache that fails lets
the request through (logged without the token), as participation.limits does."""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

clock = time.time


def rate_limit(*, token_id: int, now: float | None = None) -> int | None:
    """Count one request of this token; the seconds to wait when over the limit, else None."""
    limit = settings.API_RATE_LIMIT
    window_s = settings.API_RATE_WINDOW_S
    if not limit:
        return None
    now = clock() if now is None else now
    window = int(now // window_s)
    key = f"api-rate:{token_id}:{window}"
    try:
        cache.add(key, 0, timeout=window_s * 2)
        count = cache.incr(key)
    except Exception:  # a cache outage must not take the API down
        logger.warning("API rate limit not counted: the cache failed", exc_info=True)
        return None
    if count > limit:
        return max(1, math.ceil((window + 1) * window_s - now))
    return None
