"""Raw Prolific ids: the page where an investigator records why they need them, the
downloads that this opens, and the study's record of both (analysis.identifiers)."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.analysis import exports, identifiers
from studyapp.analysis.forms import RawIdentifierReleaseForm
from studyapp.analysis.models import RawIdentifierRelease
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import roles

HISTORY = 50


@require_http_methods(["GET", "POST"])
@login_required_htmx
def raw_identifiers(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.RELEASE_IDENTIFIERS)
    form = RawIdentifierReleaseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not identifiers.user_may_release(study=study, user=request.user):
            return HttpResponseForbidden(identifiers.REFUSED)
        if form.is_valid():
            identifiers.raw_release_create(
                study=study, user=request.user, reason=form.cleaned_data["reason"]
            )
            return redirect("analysis:raw_identifiers", slug=study.slug)
    context = {
        "study": study,
        "form": form,
        "release": identifiers.raw_release_current(study=study, user=request.user),
        "valid_hours": int(identifiers.RELEASE_VALID_FOR.total_seconds() // 3600),
        "history": RawIdentifierRelease.objects.filter(study=study)
        .select_related("user")
        .prefetch_related("downloads")[:HISTORY],
        "export_formats": list(exports.FORMATS),
    }
    status = 400 if form.is_bound else 200
    return render(request, "analysis/raw_identifiers.html", context, status=status)
