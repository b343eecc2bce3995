"""Rate limits on the two steps that cost the study something: a new participant (entry)
and a consent (allocation). Resuming participants are never counted.

Fixed windows of settings.PARTICIPANT_RATE_WINDOW_S seconds, counted in Django's cache
(Redis, or files under .run/ shared by the processes of one machine), per client address
and per study. The address is counted first and a request it refuses is not counted for
the study, so one flooding address cannot use up everyone else's share of the study's
limit. Addresses are kept in the cache only as keyed hashes.

The file cache increments by read-then-write, so processes racing on one counter can
let a few requests more than the limit through; Redis counts exactly. Whatever goes
wrong with the cache, participants get in: a warning is logged (never the address or
anything about the participant) and the request is allowed.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac

logger = logging.getLogger(__name__)


# The clock windows are counted on (tests hold it still, away from a window's edge).
clock = time.time


class Action(StrEnum):
    ENTRY = "entry"  # a new participant
    CONSENT = "consent"


# Action -> (per-address setting, per-study setting).
_SETTINGS = {
    Action.ENTRY: ("PARTICIPANT_ENTRY_PER_IP", "PARTICIPANT_ENTRY_PER_STUDY"),
    Action.CONSENT: ("PARTICIPANT_CONSENT_PER_IP", "PARTICIPANT_CONSENT_PER_STUDY"),
}


@dataclass(frozen=True)
class Limited:
    """A refused request: which limit, and how long until its window ends."""

    action: Action
    scope: str  # "ip" or "study"
    retry_after_s: int


def _address_key(ip: str) -> str:
    return salted_hmac("studyapp.participation.rate-ip", ip, algorithm="sha256").hexdigest()[:32]


def _count(key: str, window_s: int) -> int:
    # add() is a no-op when the key exists; the timeout outlives the window it counts.
    cache.add(key, 0, timeout=window_s * 2)
    return cache.incr(key)


def rate_limit(
    *, action: Action, study_id: int, ip: str, now: float | None = None
) -> Limited | None:
    """Count one `action` for this address and study; a Limited when over a limit."""
    window_s = settings.PARTICIPANT_RATE_WINDOW_S
    now = clock() if now is None else now
    window = int(now // window_s)
    retry_after = max(1, math.ceil((window + 1) * window_s - now))
    per_ip_name, per_study_name = _SETTINGS[action]
    checks = (
        ("ip", getattr(settings, per_ip_name), _address_key(ip or "unknown")),
        ("study", getattr(settings, per_study_name), str(study_id)),
    )
    for scope, limit, ident in checks:
        if not limit:
            continue
        key = f"participant-rate:{action}:{scope}:{ident}:{window}"
        try:
            count = _count(key, window_s)
        except Exception as exc:  # any cache failure: fail open, never a 500
            logger.warning(
                "participant rate limit not checked (%s, cache unavailable: %s)",
                action,
                type(exc).__name__,
            )
            return None
        if count > limit:
            logger.info(
                "participant %s refused: %s limit of %d per %ds", action, scope, limit, window_s
            )
            return Limited(action=action, scope=scope, retry_after_s=retry_after)
    return None
