"""Correcting an answer's score from the transcript page (analysis.corrections): the
form and the corrections' history, a fragment the page includes and htmx swaps."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.analysis import corrections
from studyapp.analysis.forms import ScoreCorrectionForm
from studyapp.analysis.models import ScoreCorrection
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.participation.models import Answer
from studyapp.studies import roles

FRAGMENT = "analysis/_score_corrections.html"


def score_corrections_context(user, study, answer: Answer | None, form=None) -> dict:
    """What the transcript page's corrections fragment needs (for any reader of the page;
    the form only for those who may correct)."""
    if answer is None:
        return {"corrections": [], "can_correct": False}
    can = answer.conditions_correct is not None and user.has_perm(roles.CORRECT_SCORES, study)
    if can and form is None:
        form = ScoreCorrectionForm(initial={"value": "no" if answer.conditions_correct else "yes"})
    return {
        "corrections": corrections.answer_corrections(answer=answer),
        "can_correct": can,
        "correction_form": form,
        "correction_answer": answer,
    }


@require_POST
@login_required_htmx
def score_correct(request: AuthenticatedHttpRequest, slug: str, task_id: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CORRECT_SCORES)
    answer = (
        Answer.objects.filter(task_id=task_id, task__participant__study=study)
        .select_related("task")
        .first()
    )
    if answer is None:
        raise Http404("No answer to correct")
    form = ScoreCorrectionForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            corrections.score_correct(
                answer=answer,
                field=ScoreCorrection.Field.CONDITIONS_CORRECT,
                value=form.cleaned_data["value"],
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
        except corrections.ScoreCorrectionRefused as refused:
            form.add_error(None, str(refused))
            status = 400
        else:
            form = None
    else:
        status = 400
    if not request.htmx:
        if form is None:
            messages.success(request, "The score was corrected; the reason is recorded.")
        else:
            for error in form.errors.values():
                messages.error(request, " ".join(error))
        return redirect("analysis:transcript", slug=study.slug, task_id=task_id)
    context = {"study": study, "t": {"task": answer.task}}
    context.update(score_corrections_context(request.user, study, answer, form))
    return render(request, FRAGMENT, context, status=status)
