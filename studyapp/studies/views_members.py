"""The study's Members page, for its owners: who holds which role (studies.roles), grant a
role to an existing user (by username or e-mail), change or revoke one. htmx swaps the
members table in place; every change is on the study's audit trail."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import roles
from studyapp.studies.members import (
    MembershipError,
    membership_grant,
    membership_revoke,
    user_find,
)
from studyapp.studies.models import Study, StudyMembership


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


class MemberChangeForm(forms.Form):
    # Empty: revoke.
    role = forms.ChoiceField(choices=[("", "—"), *roles.Role.choices], required=False)


def _context(study: Study, *, add_form: MemberAddForm | None = None, error: str = "") -> dict:
    return {
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
