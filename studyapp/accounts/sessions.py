"""How long a signed-in user's session lasts.

Investigators reach participant data, so their sessions end after a working day without
activity (INVESTIGATOR_SESSION_AGE_S, 8 h by default) rather than the site-wide
SESSION_COOKIE_AGE, which stays long for participants (who may come back the next day,
within their study's time limit).

Django saves a session, and so pushes its expiry forward, only when the session changed,
so a signed-in session is touched on activity; at most every few minutes, not on every
request (the htmx tables poll). One middleware does it for every way in: allauth's login,
the admin's, and sessions that began before this rule (they get the short age on their
next request).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

# When the session was last pushed forward (seconds since the epoch).
REFRESHED_AT = "_investigator_session_refreshed_at"


def refresh_interval_s(age_s: int) -> float:
    """How stale the expiry may get: a tenth of the age, at most 5 minutes."""
    return min(300.0, age_s / 10)


def session_refresh_signed_in(session: SessionBase, *, now: float | None = None) -> bool:
    """Give a signed-in session INVESTIGATOR_SESSION_AGE_S from now, if it has not had it
    recently; returns whether the session changed (Django then saves it)."""
    age = settings.INVESTIGATOR_SESSION_AGE_S
    now = time.time() if now is None else now
    if session.get_expiry_age() == age and now - session.get(REFRESHED_AT, 0) < (
        refresh_interval_s(age)
    ):
        return False
    session.set_expiry(age)
    session[REFRESHED_AT] = int(now)
    return True


class InvestigatorSessionMiddleware(MiddlewareMixin):
    """After the view (a login has happened by then), refresh a signed-in session.

    Placed after AuthenticationMiddleware, so its response runs before SessionMiddleware's,
    which saves the change.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session:
            session_refresh_signed_in(session)
        return response
