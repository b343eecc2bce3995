"""A study that requires two-factor authentication (Study.require_mfa) of everyone who
sees its participant-level data.

accounts.permissions asks `mfa_missing_for` once it knows the user may open the page, and
raises MFARequired; the middleware here answers it with a page that links to the setup
(allauth.mfa's /accounts/2fa/). MFARequired is a PermissionDenied, so without the
middleware the answer is still a refusal.
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from studyapp.studies import roles
from studyapp.studies.models import Study


class MFARequired(PermissionDenied):
    """The user may see the study but has not set up two-factor authentication."""

    def __init__(self, study: Study):
        super().__init__(f"Study {study.slug} requires two-factor authentication")
        self.study = study


def mfa_missing_for(user, study: Study, *, rater: bool = False) -> bool:
    """Whether the study requires a second factor of `user` that they have not set up.

    Everyone who sees participant-level data: members whose role holds VIEW_RESULTS,
    raters (`rater`, who read the answers), and superusers, who hold every permission
    and whose account opens every study. Costs a query only for a study that requires it.
    """
    if not study.require_mfa:
        return False
    if not (rater or user.has_perm(roles.VIEW_RESULTS, study)):
        return False
    return not user_has_mfa(user)


def user_has_mfa(user) -> bool:
    """Whether the user signs in with a second factor: an authenticator app or a security
    key. Recovery codes alone are none (they stand in for a lost one)."""
    return is_mfa_enabled(user, types=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN])


class MFARequiredMiddleware:
    """Answers MFARequired with a page saying what to do (403): set up two-factor
    authentication, then come back. An htmx request (a fragment, a poll) is sent to the
    setup page with the same message, rather than reloading a page that would poll again."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, MFARequired):
            return None
        if getattr(request, "htmx", None):
            messages.warning(request, _message(exception.study))
            return HttpResponseClientRedirect(reverse("mfa_index"))
        context = {"study": exception.study, "message": _message(exception.study)}
        return render(request, "account/mfa_required.html", context, status=403)


def _message(study: Study) -> str:
    return (
        f"The study “{study.title}” requires two-factor authentication of everyone who "
        "sees its participant-level data. Set up an authenticator app or add a security key "
        "to open it."
    )
