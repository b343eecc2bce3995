"""Investigator pages that pause and resume a live study (studies.pausing): a GET shows
what the change does and asks to confirm; only the confirming POST changes anything."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import roles
from studyapp.studies.pausing import TRANSITIONS, PauseRefusedError, study_pause, study_resume

_CHANGES = {
    "pause": (study_pause, "Study paused: new participants are held at the link."),
    "resume": (study_resume, "Study resumed: the link enrols new participants."),
}


def _status_change(request: AuthenticatedHttpRequest, slug: str, change: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    service, done = _CHANGES[change]
    if request.method == "POST":
        try:
            service(study_id=study.pk, user=request.user)
        except PauseRefusedError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, done)
        return redirect("analysis:study_detail", slug=study.slug)
    context = {"study": study, "change": change, "allowed": study.status in TRANSITIONS[change]}
    return render(request, "studies/status_confirm.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def pause(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    return _status_change(request, slug, "pause")


@require_http_methods(["GET", "POST"])
@login_required
def resume(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    return _status_change(request, slug, "resume")
