"""The evaluations page of a study: start runs, watch them, compare results."""

from __future__ import annotations

import statistics
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.http import AuthenticatedHttpRequest, HtmxHttpRequest
from studyapp.evaluations import plots, selectors
from studyapp.evaluations.forms import ModelAlonePromptForm, StartRunForm, shared_data_dir
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.science.comparison import comparison_cells, simulated_on_human
from studyapp.evaluations.science.prompts import DEFAULT_MODEL_ALONE_PRESET
from studyapp.evaluations.science.robustness import read_leaderboard
from studyapp.evaluations.services import (
    EvaluationError,
    evaluation_cancel,
    evaluation_delete,
    evaluation_start,
    model_alone_prompt_save,
)
from studyapp.studies import roles

POLL_SECONDS = 2


def leaderboard_path() -> Path:
    return shared_data_dir() / "medqa_followup" / "leaderboard_accuracy_drops.csv"


def _leaderboard() -> list[dict]:
    path = leaderboard_path()
    return read_leaderboard(path) if path.is_file() else []


def _runs_context(study, *, may_change: bool) -> dict:
    runs = selectors.study_runs(study=study)
    return {
        "study": study,
        "runs": runs,
        # Start, edit, cancel and delete: owners and collaborators (studies.roles).
        "may_change": may_change,
        "poll_seconds": POLL_SECONDS,
        # Polling goes on until a cancelled run's last requests in flight are stored.
        "any_active": any(not run.is_finished for run in runs)
        or selectors.study_has_working_chunks(study=study),
    }


def _results_context(study, runs: list[EvaluationRun]) -> dict:
    cells = comparison_cells(selectors.comparison_rows(study=study))
    fit = simulated_on_human(cells)
    leaderboard = _leaderboard()
    published: dict[str, float] = {}
    for followup in {row["followup"] for row in leaderboard}:
        values = [r["change_pp"] for r in leaderboard if r["followup"] == followup]
        published[followup] = round(statistics.median(values), 2)
    robustness = []
    for run in runs:
        if run.kind == EvaluationRun.Kind.ROBUSTNESS and run.status in (
            EvaluationRun.Status.SUCCEEDED,
            EvaluationRun.Status.RUNNING,
        ):
            rows = selectors.robustness_summary(run=run)
            for row in rows:
                # The leaderboard measures a follow-up after the first answer: deep probes.
                row["published_median"] = (
                    published.get(row["leaderboard"]) if row["depth"] == "deep" else None
                )
            robustness.append(
                {
                    "run": run,
                    "rows": rows,
                    "figure_id": f"robustness-{run.pk}",
                    "figure": plots.robustness_figure(rows, published),
                }
            )
    context = {
        # The start form's model-alone templates, listed to edit beside it.
        "model_alone_prompts": selectors.model_alone_prompts(study=study),
        "cells": [cell.as_dict() for cell in cells],
        "fit": fit,
        "comparison_figure": plots.comparison_figure(cells),
        "regression_figure": plots.regression_figure(cells, fit),
        "robustness": robustness,
        "leaderboard_average": [r for r in leaderboard if r["followup"] == "average"],
        "pushback": selectors.human_transcript_proposals(study=study),
        # Their scores load beside the raters' labels (ratings' grader:results fragment).
        "rubric_runs": [
            run
            for run in runs
            if run.kind == EvaluationRun.Kind.RUBRIC and run.status in selectors.REPORTED_STATUSES
        ],
    }
    summaries = [
        selectors.run_summary(run=run) for run in runs if run.kind != EvaluationRun.Kind.IMPORTED
    ]
    return context | {
        "summaries": summaries,
        # Scenario runs (model alone, simulated): the participants' outcomes with CIs.
        "outcome_summaries": [s for s in summaries if s.get("outcomes")],
    }


@require_GET
@login_required
def evaluations_page(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_DESIGN)
    context = _runs_context(study, may_change=request.user.has_perm(roles.CHANGE_STUDY, study))
    context |= _results_context(study, context["runs"])
    context["form"] = StartRunForm(study=study, user=request.user)
    return render(request, "evaluations/page.html", context)


@require_GET
@login_required_htmx
def runs_fragment(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The runs table alone, polled while a run is active (the progress bars move)."""
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_DESIGN)
    context = _runs_context(study, may_change=request.user.has_perm(roles.CHANGE_STUDY, study))
    response = render(request, "evaluations/page.html#runs", context)
    if not context["any_active"]:
        # Nothing runs any more: the evaluations page's results reload themselves, so the
        # finished runs' figures appear without a reload that would clear the start form.
        trigger_client_event(response, "evaluations-finished")
    return response


@require_POST
@login_required
def run_start(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    form = StartRunForm(request.POST, request.FILES, study=study, user=request.user)
    if form.is_valid():
        try:
            evaluation_start(study=study, request=form.start_request(), user=request.user)
        except EvaluationError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("evaluations:page", slug=study.slug)
    context = _runs_context(study, may_change=request.user.has_perm(roles.CHANGE_STUDY, study))
    context |= _results_context(study, context["runs"])
    context["form"] = form
    return render(request, "evaluations/page.html", context, status=400)


@require_POST
@login_required
def run_cancel(request: AuthenticatedHttpRequest, slug: str, run_id: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    run = get_object_or_404(EvaluationRun, pk=run_id, study=study)
    evaluation_cancel(run_id=run.pk)
    return redirect("evaluations:page", slug=study.slug)


@require_POST
@login_required
def run_delete(request: AuthenticatedHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """Delete a finished run with the simulated participants it made (the button asks
    first); a run still going is refused with the service's reason."""
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    run = get_object_or_404(EvaluationRun, pk=run_id, study=study)
    try:
        evaluation_delete(run_id=run.pk)
    except EvaluationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Run {run.key} deleted, with its simulated participants.")
    page = reverse("evaluations:page", args=[study.slug])
    # From htmx (the confirmed button), the whole page reloads: every table changes.
    return HttpResponseClientRedirect(page) if request.htmx else redirect(page)


@require_GET
@login_required
def run_detail(request: AuthenticatedHttpRequest, slug: str, run_id: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_DESIGN)
    run = get_object_or_404(EvaluationRun.objects.select_related("arm"), pk=run_id, study=study)
    items = run.items.select_related("scenario", "disposition").order_by("pk")[:200]
    context = {
        "study": study,
        "run": run,
        "summary": selectors.run_summary(run=run),
        "items": items,
    }
    return render(request, "evaluations/run_detail.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def prompt_edit(
    request: AuthenticatedHttpRequest, slug: str, key: str | None = None
) -> HttpResponse:
    """Edit the study's model-alone prompt templates under a key, or add a template
    (`?from=<key>` starts from that one). A template with a placeholder missing or unknown
    is refused with what to change."""
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    prompts = selectors.model_alone_prompts(study=study)
    if key is not None and key not in prompts:
        raise Http404("no such prompt template")
    start = prompts.get(key or request.GET.get("from", ""), prompts[DEFAULT_MODEL_ALONE_PRESET])
    if request.method == "POST":
        form = ModelAlonePromptForm(request.POST)
        if form.is_valid():
            try:
                model_alone_prompt_save(
                    study=study,
                    key=form.cleaned_data["key"],
                    label=form.cleaned_data["label"],
                    texts=form.texts(),
                    user=request.user,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request, f"Model-alone prompt template {form.cleaned_data['key']} saved."
                )
                return redirect("evaluations:page", slug=study.slug)
    else:
        initial = {"key": key or "", "label": start["label"] if key else ""}
        form = ModelAlonePromptForm(initial=initial | start["texts"])
    context = {"study": study, "form": form, "key": key, "start": start}
    return render(
        request,
        "evaluations/prompt_edit.html",
        context,
        status=400 if request.method == "POST" else 200,
    )
