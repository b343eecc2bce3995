"""Investigators' rating pages: raters and rounds, the study page's summary, agreement."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.ratings import reports, selectors
from studyapp.ratings.forms import RaterAddForm, RaterUpdateForm, RoundForm
from studyapp.ratings.models import RatingRound, StudyRater
from studyapp.ratings.services.raters import rater_add, rater_update
from studyapp.ratings.services.rounds import RoundError, round_create
from studyapp.studies import roles


def _manage_context(study, *, add_form=None, round_form=None) -> dict:
    return {
        "study": study,
        "raters": selectors.raters_with_progress(study=study),
        "rounds": RatingRound.objects.filter(study=study)
        .select_related("created_by")
        .order_by("-created_at"),
        "add_form": add_form or RaterAddForm(),
        "round_form": round_form or RoundForm(study=study),
    }


@require_http_methods(["GET", "POST"])
@login_required
def manage(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Raters (add, change roles) and rounds (create); POST adds a rater."""
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    add_form = RaterAddForm(request.POST or None)
    if request.method == "POST" and add_form.is_valid():
        rater = rater_add(
            study=study,
            user=add_form.cleaned_data["user"],
            added_by=request.user,
            can_rate=add_form.cleaned_data["can_rate"],
            can_adjudicate=add_form.cleaned_data["can_adjudicate"],
        )
        messages.success(request, f"{rater.user.get_username()} rates this study as {rater.code}.")
        return redirect("ratings:manage", slug=study.slug)
    return render(
        request,
        "ratings/manage.html",
        _manage_context(study, add_form=add_form),
        status=400 if add_form.errors else 200,
    )


@require_POST
@login_required
def rater_change(request: AuthenticatedHttpRequest, slug: str, rater_id: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    rater = get_object_or_404(StudyRater, study=study, pk=rater_id)
    form = RaterUpdateForm(request.POST)
    if form.is_valid():
        rater_update(rater=rater, **form.cleaned_data)
        messages.success(request, f"{rater.code} updated.")
    return redirect("ratings:manage", slug=study.slug)


@require_POST
@login_required
def round_new(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    form = RoundForm(request.POST, study=study)
    if form.is_valid():
        data = form.cleaned_data
        try:
            rating_round = round_create(
                study=study,
                name=data["name"],
                created_by=request.user,
                double_share=data["double_percent"] / 100,
                answers=data["answers"],
                transcripts=data["transcripts"],
                humans=data["humans"],
                evaluation_run_ids=[run.pk for run in data.get("evaluation_runs") or []],
                rater_ids=[rater.pk for rater in data["raters"]],
                raters_per_double=data["raters_per_double"],
                seed=data["seed"],
            )
        except (RoundError, ValueError) as exc:
            form.add_error(None, str(exc))
        else:
            n = rating_round.items.count()
            messages.success(request, f"{rating_round.name}: {n} items dealt out.")
            return redirect("ratings:manage", slug=study.slug)
    return render(
        request, "ratings/manage.html", _manage_context(study, round_form=form), status=400
    )


@require_GET
@login_required_htmx
def summary(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The study page's Rating section (loaded by htmx)."""
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    context = {
        "study": study,
        "raters": selectors.raters_with_progress(study=study),
        "report": reports.agreement_report(study=study),
    }
    return render(request, "ratings/_summary.html", context)


@require_GET
@login_required
def agreement_details(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Agreement per gold term and rubric item, and the matcher per scenario and term."""
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    context = {
        "study": study,
        "raters": selectors.raters_with_progress(study=study),
        "report": reports.agreement_report(study=study),
    }
    return render(request, "ratings/agreement.html", context)
