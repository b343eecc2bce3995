"""The study's Members page, for its owners: who holds which role (studies.roles), grant a
role to an existing user (by username or e-mail), change or revoke one; invite an e-mail
address (studies.invitations), and send again or revoke an open invitation. htmx swaps the
members section in place; every change is on the study's audit trail."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import roles
from studyapp.studies.invitations import (
    InvitationError,
    InvitationNotSent,
    InvitationRateLimited,
    invitation_create,
    invitation_resend,
    invitation_revoke,
)
from studyapp.studies.members import (
    MembershipError,
    membership_grant,
    membership_revoke,
    user_find,
)
from studyapp.studies.models import Invitation, Study, StudyMembership


class MemberAddForm(forms.Form):
    user = forms.CharField(
        label="Username or e-mail",
        max_length=254,
        help_text="Someone who already has an account here.",
    )
    role = forms.ChoiceField(label="Role", choices=roles.Role.choices)

    def clean_user(self):
        found = user_find(identifier=self.cleaned_data["user"])
        if found is None:
            raise forms.ValidationError("No one with this username or e-mail address.")
        return found


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        help_text="They get a link that works once, for "
        f"{settings.INVITATION_EXPIRY_DAYS} days; without an account they create one there.",
    )
    role = forms.ChoiceField(label="Role", choices=roles.Role.choices)


class MemberChangeForm(forms.Form):
    # Empty: revoke.
    role = forms.ChoiceField(choices=[("", "—"), *roles.Role.choices], required=False)


def _context(
    study: Study,
    *,
    add_form: MemberAddForm | None = None,
    invite_form: InviteForm | None = None,
    error: str = "",
    notice: str = "",
) -> dict:
    now = timezone.now()
    invitations = list(
        Invitation.objects.filter(study=study, accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("email", "-created_at")
    )
    for invitation in invitations:
        invitation.is_expired = invitation.expires_at <= now
    return {
        "invitations": invitations,
        "invite_form": invite_form or InviteForm(),
        "notice": notice,
        "study": study,
        "members": StudyMembership.objects.filter(study=study)
        .select_related("user", "granted_by")
        .order_by("role", "user__username"),
        "raters": study.raters.select_related("user").order_by("code"),
        "roles": roles.Role.choices,
        "add_form": add_form or MemberAddForm(),
        "error": error,
    }


def _render(request, study: Study, *, status: int = 200, **kwargs) -> HttpResponse:
    template = "studies/members.html#members" if request.htmx else "studies/members.html"
    return render(request, template, _context(study, **kwargs), status=status)


@require_http_methods(["GET", "POST"])
@login_required
def members(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The page; POST grants a role."""
    study = study_get_for_user_or_404(request.user, slug, roles.MANAGE_MEMBERS)
    if request.method == "GET":
        return _render(request, study)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _render(request, study, add_form=form, status=400)
    try:
        membership_grant(
            study=study,
            user=form.cleaned_data["user"],
            role=form.cleaned_data["role"],
            granted_by=request.user,
        )
    except MembershipError as exc:
        return _render(request, study, add_form=form, error=str(exc), status=400)
    if request.htmx:
        return _render(request, study)
    return redirect("studies:members", slug=study.slug)


@require_POST
@login_required
def member_change(request: AuthenticatedHttpRequest, slug: str, user_id: int) -> HttpResponse:
    """Change a member's role, or revoke it (an empty role)."""
    study = study_get_for_user_or_404(request.user, slug, roles.MANAGE_MEMBERS)
    membership = get_object_or_404(StudyMembership, study=study, user_id=user_id)
    form = MemberChangeForm(request.POST)
    if not form.is_valid():
        return _render(request, study, error="Choose one of the roles.", status=400)
    try:
        if form.cleaned_data["role"]:
            membership_grant(
                study=study,
                user=membership.user,
                role=form.cleaned_data["role"],
                granted_by=request.user,
            )
        else:
            membership_revoke(study=study, user=membership.user, revoked_by=request.user)
    except MembershipError as exc:
        return _render(request, study, error=str(exc), status=400)
    if request.htmx:
        return _render(request, study)
    return redirect("studies:members", slug=study.slug)


def _site_url(request) -> str:
    # The link's scheme and host, as this request reached us (behind nginx: its headers).
    return request.build_absolute_uri("/")


def _after_change(request, study: Study, **kwargs) -> HttpResponse:
    if request.htmx:
        return _render(request, study, **kwargs)
    if kwargs.get("notice"):
        messages.success(request, kwargs["notice"])
    return redirect("studies:members", slug=study.slug)


@require_POST
@login_required
def invite(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Invite an e-mail address to a role: the invitation, and its e-mail with the link."""
    study = study_get_for_user_or_404(request.user, slug, roles.MANAGE_MEMBERS)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _render(request, study, invite_form=form, status=400)
    try:
        sent = invitation_create(
            study=study,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            invited_by=request.user,
            site_url=_site_url(request),
        )
    except (InvitationNotSent, InvitationRateLimited) as exc:
        # 400, not 502/429: htmx swaps only a 400's fragment (base.html), and the owner
        # must read why.
        return _render(request, study, error=str(exc), status=400)
    except InvitationError as exc:
        form.add_error("email", str(exc))
        return _render(request, study, invite_form=form, status=400)
    return _after_change(request, study, notice=f"Invitation sent to {sent.invitation.email}.")


@require_POST
@login_required
def invitation_resend_view(
    request: AuthenticatedHttpRequest, slug: str, invitation_id: int
) -> HttpResponse:
    """Send an open (or expired) invitation again, with a new link and expiry."""
    study = study_get_for_user_or_404(request.user, slug, roles.MANAGE_MEMBERS)
    invitation = get_object_or_404(Invitation, study=study, pk=invitation_id)
    try:
        invitation_resend(
            invitation=invitation, resent_by=request.user, site_url=_site_url(request)
        )
    except InvitationError as exc:  # not sent, rate-limited, or no longer open
        return _render(request, study, error=str(exc), status=400)
    return _after_change(request, study, notice=f"Invitation sent again to {invitation.email}.")


@require_POST
@login_required
def invitation_revoke_view(
    request: AuthenticatedHttpRequest, slug: str, invitation_id: int
) -> HttpResponse:
    """Withdraw an invitation: its link stops working."""
    study = study_get_for_user_or_404(request.user, slug, roles.MANAGE_MEMBERS)
    invitation = get_object_or_404(Invitation, study=study, pk=invitation_id)
    try:
        invitation_revoke(invitation=invitation, revoked_by=request.user)
    except InvitationError as exc:
        return _render(request, study, error=str(exc), status=400)
    return _after_change(request, study, notice=f"Invitation to {invitation.email} revoked.")
