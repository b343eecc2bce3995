"""The rubric run's results with the grader's agreement with the raters beside every
score: a fragment the evaluations page and a run's page load (they include
`ratings/_grader_results_loader.html`; evaluations never imports the ratings app)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.http import HtmxHttpRequest
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.selectors_rubric import rubric_summary
from studyapp.ratings.grader import grader_agreement, scores_beside_agreement
from studyapp.studies import roles


@require_GET
@login_required_htmx
def rubric_results(request: HtmxHttpRequest, slug: str, run_id: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_DESIGN)
    run = get_object_or_404(EvaluationRun, pk=run_id, study=study, kind=EvaluationRun.Kind.RUBRIC)
    summary = rubric_summary(run=run)
    agreement = grader_agreement(run=run)
    context = {
        "study": study,
        "run": run,
        "summary": summary,
        "agreement": agreement,
        "rows": scores_beside_agreement(summary, agreement),
    }
    return render(request, "ratings/_grader_results.html", context)
