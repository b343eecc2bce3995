"""A fixed-window counter in Django's cache (Redis when REDIS_URL is set, so every process
shares the count): the API's per-token limit and the invitations' per-owner limit.
(participation.limits counts entries and answers its own way, per action and address.)"""

from __future__ import annotations

import logging
import math

from django.core.cache import cache

logger = logging.getLogger(__name__)


def fixed_window_wait(*, key: str, limit: int, window_s: int, now: float, what: str) -> int | None:
    """Count one event under `key` in the window of `window_s` seconds that `now` falls in;
    the seconds until that window ends when the count is over `limit`, else None. A limit
    of 0 counts nothing. A cache that fails lets the event through, logged as `what`
    (never the key, which may name a token)."""
    if not limit:
        return None
    window = int(now // window_s)
    key = f"{key}:{window}"
    try:
        cache.add(key, 0, timeout=window_s * 2)
        count = cache.incr(key)
    except Exception:  # a cache outage must not take the page or the API down
        logger.warning("%s rate limit not counted: the cache failed", what, exc_info=True)
        return None
    if count > limit:
        return max(1, math.ceil((window + 1) * window_s - now))
    return None
