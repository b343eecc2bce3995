"""The launch page (studies.launch): the checklist, run on every GET, every problem in
plain words with where to fix it, and "Start pilot" (a draft) or "Launch" only when there
is none. The POST runs the checklist again (what the GET showed may be stale: an endpoint
can die in between) and goes through `study_pilot_start` / `study_launch`, whose refusal
is shown on the same page. Owners and collaborators (CHANGE_STUDY), as in the admin and
`manage.py launch_study`. htmx swaps the checklist in place ("Check again", a refusal).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.participation.pilot import pilot_counts, pilot_participants_in_progress
from studyapp.studies import roles
from studyapp.studies.launch import (
    LaunchRefusedError,
    PilotData,
    Problem,
    launch_problems,
    study_launch,
    study_pilot_start,
)
from studyapp.studies.models import Study

# What each status may become from this page.
_ACTIONS = {
    Study.Status.DRAFT: ("pilot", "launch"),
    Study.Status.PILOT: ("launch",),
    Study.Status.PILOT_PAUSED: ("launch",),  # launching ends the pause with the pilot
}


class LaunchForm(forms.Form):
    action = forms.ChoiceField(choices=[("launch", "Launch"), ("pilot", "Start pilot")])
    pilot_data = forms.ChoiceField(
        choices=PilotData.choices,
        widget=forms.RadioSelect,
        required=False,
        label="The pilot's data",
    )

    def __init__(self, *args, study: Study, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.study = study

    def clean(self) -> dict:
        data = super().clean()
        action = data.get("action")
        if action and action not in _ACTIONS.get(self.study.status, ()):
            raise forms.ValidationError(
                f"A study that is {self.study.get_status_display().lower()} cannot do that "
                "from here."
            )
        if self.study.is_pilot and not data.get("pilot_data"):
            self.add_error("pilot_data", "Choose whether to keep or to clear the pilot's data.")
        return data


def _render(
    request: AuthenticatedHttpRequest,
    study: Study,
    *,
    problems: list[Problem],
    form: LaunchForm | None = None,
    status: int = 200,
) -> HttpResponse:
    pilot = study.is_pilot
    context = {
        "study": study,
        "problems": problems,
        "form": form or LaunchForm(study=study),
        "actions": _ACTIONS.get(study.status, ()),
        "pilot": pilot_counts(study=study) if pilot else None,
        "pilot_in_progress": pilot_participants_in_progress(study=study) if pilot else 0,
    }
    template = "studies/launch.html#checklist" if request.htmx else "studies/launch.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def launch(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    if request.method == "GET":
        problems = launch_problems(study) if study.status in _ACTIONS else []
        return _render(request, study, problems=problems)
    form = LaunchForm(request.POST, study=study)
    if not form.is_valid():
        problems = launch_problems(study) if study.status in _ACTIONS else []
        return _render(request, study, problems=problems, form=form, status=400)
    try:
        if form.cleaned_data["action"] == "pilot":
            study_pilot_start(study=study, user=request.user)
            done = "Pilot started: the link enrols real participants, labelled pilot."
        else:
            study_launch(
                study=study,
                launched_by=request.user,
                pilot_data=form.cleaned_data.get("pilot_data") or "",
            )
            done = "The study is live: the link enrols participants of the main phase."
    except LaunchRefusedError as exc:
        study.refresh_from_db(fields=["status"])
        return _render(request, study, problems=exc.problems, form=form, status=400)
    messages.success(request, done)
    url = reverse("analysis:study_detail", args=[study.slug])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)
