"""Investigator pages: the studies a user may see, and each study's figures."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import (
    study_get_for_user_or_404,
    study_perms,
    user_sees_blinded,
)
from studyapp.analysis import selectors
from studyapp.analysis.consort import consort_figure, study_consort
from studyapp.analysis.selectors_plan import plan_state
from studyapp.core.http import AuthenticatedHttpRequest, HtmxHttpRequest
from studyapp.participation.language import language_choices
from studyapp.participation.preview import preview_arms, preview_scenarios
from studyapp.studies import roles
from studyapp.studies.launch import launch_todo
from studyapp.studies.links import participant_entry_path
from studyapp.studies.models import Study

REFRESH_SECONDS = 10


def include_pilot_asked(request) -> bool:
    """The analyst's explicit choice to put the pilot's participants in the figures
    (?pilot=include); the main analysis leaves them out."""
    return request.GET.get("pilot") == "include"


@require_GET
@login_required
def study_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    studies = selectors.study_list_for_user(user=request.user)
    return render(request, "analysis/study_list.html", {"studies": studies})


@require_GET
@login_required
def study_detail(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    if user_sees_blinded(request.user, study):
        # The study page names arms and models: a blinded analyst's page is the
        # dashboard, blinded.
        return redirect(f"{reverse('analysis:dashboard', args=[study.slug])}?blinded=1")
    # The main analysis leaves the pilot out; ?pilot=include puts it in, said on the page.
    include_pilot = include_pilot_asked(request)
    consort = study_consort(study=study, include_pilot=include_pilot)
    context = {
        "study": study,
        "report": selectors.study_report(study=study, include_pilot=include_pilot),
        "participant_link": request.build_absolute_uri(participant_entry_path(study.slug)),
        "refresh_seconds": REFRESH_SECONDS,
        "consort": consort,
        "consort_figure": consort_figure(consort),
        "plan": plan_state(study=study),
        "can": study_perms(request.user, study),
    }
    if context["can"]["change_study"]:
        context["preview_arms"] = preview_arms(study=study)
        context["preview_scenarios"] = preview_scenarios(study=study)
        context["preview_languages"] = language_choices(study.languages)
        if study.status == Study.Status.DRAFT or study.is_pilot:  # a paused pilot too
            # What the launch checklist would refuse, but for the endpoints' probes (seconds
            # each): here while the study is built, each with the page that fixes it.
            context["todo"] = launch_todo(study)
    return render(request, "analysis/study_detail.html", context)


@require_GET
@login_required_htmx
def study_figures(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The figures block alone, polled by the detail page."""
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_UNBLINDED)
    include_pilot = include_pilot_asked(request)
    context = {
        "study": study,
        "report": selectors.study_report(study=study, include_pilot=include_pilot),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render(request, "analysis/study_detail.html#figures", context)
