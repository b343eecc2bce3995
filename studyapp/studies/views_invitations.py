"""The invitee's side of an invitation (studies.invitations): the e-mail's link, then the
page that accepts it.

Opening the link keeps the token's hash in the session and redirects to a page without
it, so the token is not in the address bar, a Referer, the sign-in's `next` or the
access log after that first request (core.logging masks it in that one). A visitor
without an account signs up there (the adapter opens sign-up only for this), one with
an account signs in; both come back to accept.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from studyapp.accounts.mfa import mfa_missing_for
from studyapp.studies.invitations import (
    SESSION_KEY,
    InvitationError,
    invitation_accept,
    invitation_allows_signup,
    invitation_by_hash,
    invitation_problem,
    invitation_user_problem,
    token_hash,
)


@require_GET
def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    request.session[SESSION_KEY] = token_hash(token)
    return redirect("invitations:accept")


@require_http_methods(["GET", "POST"])
def invitation_accept_view(request: HttpRequest) -> HttpResponse:
    """GET: the invitation and what to do (sign in, sign up, accept, or why not);
    POST: accept it as the signed-in user."""
    digest = request.session.get(SESSION_KEY)
    invitation = invitation_by_hash(digest)
    problem = invitation_problem(invitation)
    user = request.user
    if not problem and user.is_authenticated:
        problem = invitation_user_problem(invitation, user)
    if request.method == "POST" and user.is_authenticated and not problem:
        try:
            membership = invitation_accept(digest=digest, user=user)
        except InvitationError as exc:
            problem = str(exc)
        else:
            del request.session[SESSION_KEY]
            study = membership.study
            messages.success(
                request,
                f"You are now {membership.get_role_display().lower()} of “{study.title}”.",
            )
            if mfa_missing_for(user, study):
                # As study pages do when the second factor is missing (accounts.mfa).
                messages.warning(
                    request,
                    f"The study “{study.title}” requires two-factor authentication of "
                    "everyone who sees its participant-level data. Set up an authenticator "
                    "app to open it.",
                )
                return redirect("mfa_index")
            return redirect("analysis:study_detail", slug=study.slug)
    here = reverse("invitations:accept")
    context = {
        "invitation": None if invitation is None else invitation,
        "problem": problem,
        "may_sign_up": not user.is_authenticated and invitation_allows_signup(invitation),
        "login_url": reverse("account_login") + "?" + urlencode({"next": here}),
        "signup_url": reverse("account_signup") + "?" + urlencode({"next": here}),
        "logout_url": reverse("account_logout"),
    }
    status = 400 if (problem and request.method == "POST") else 200
    return render(request, "studies/invitation_accept.html", context, status=status)
