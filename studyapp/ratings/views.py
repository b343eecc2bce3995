"""Raters' and adjudicators' pages: a rater's queue and items, the adjudication queue.

Nothing here shows an arm, a model, a run or whether an item came from a person or a
simulated or model-alone run; a rater's pages name items by their place in the rater's
own shuffled queue, and never show another rater's labels (the final label shows once an
item is adjudicated). A rater may correct their item's automatic score where
ratings.corrections allows (`score_correct`).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import (
    study_get_for_adjudicator_or_404,
    study_get_for_rater_or_404,
    user_may_adjudicate,
)
from studyapp.analysis.corrections import ScoreCorrectionRefused
from studyapp.analysis.forms import ScoreCorrectionForm
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.ratings import selectors
from studyapp.ratings.corrections import rater_score, rater_score_correct
from studyapp.ratings.decisions import DecisionError, decision_from_row
from studyapp.ratings.forms import AdjudicationForm, LabelForm, initial_from
from studyapp.ratings.models import Label
from studyapp.ratings.services.labels import adjudication_save, label_save


@require_http_methods(["GET"])
@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The studies the user rates or adjudicates."""
    roles = selectors.studies_rated_by(user=request.user)
    return render(request, "ratings/home.html", {"roles": roles})


@require_http_methods(["GET"])
@login_required
def queue(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_rater_or_404(request.user, slug)
    rater = selectors.rater_for(study=study, user=request.user)
    rows = selectors.rater_queue(rater=rater)
    context = {
        "study": study,
        "rater": rater,
        "rows": rows,
        "done": sum(1 for row in rows if row.labelled),
        "next_open": next((row.position for row in rows if not row.labelled), None),
        "may_adjudicate": user_may_adjudicate(request.user, study),
    }
    return render(request, "ratings/queue.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def rate(request: AuthenticatedHttpRequest, slug: str, position: int) -> HttpResponse:
    study = study_get_for_rater_or_404(request.user, slug)
    rater = selectors.rater_for(study=study, user=request.user)
    view = selectors.rater_item(rater=rater, position=position)
    if view is None:
        raise Http404("No such item in your queue")
    item = view.assignment.item
    current = decision_from_row(view.current) if view.current else None
    form = LabelForm(
        request.POST or None,
        item=item,
        content=view.content,
        initial=initial_from(current, item.kind),
    )
    if request.method == "POST" and form.is_valid():
        decision = form.decision()
        if decision is not None:
            try:
                label_save(
                    assignment=view.assignment,
                    decision=decision,
                    reason=form.cleaned_data["reason"],
                )
            except DecisionError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Item {position} saved.")
                if view.next is not None:
                    return redirect("ratings:rate", slug=study.slug, position=view.next)
                return redirect("ratings:queue", slug=study.slug)
    context = {"study": study, "rater": rater, "view": view, "form": form}
    context.update(_score_context(view.assignment))
    return render(request, "ratings/rate.html", context, status=400 if form.errors else 200)


def _score_context(assignment, form: ScoreCorrectionForm | None = None) -> dict:
    """The item page's automatic-score section (None where raters do not correct it)."""
    score = rater_score(assignment=assignment)
    if score is not None and score.can_correct and form is None:
        form = ScoreCorrectionForm(initial={"value": "no" if score.current else "yes"})
    return {"score": score, "correction_form": form}


@require_POST
@login_required_htmx
def score_correct(request: AuthenticatedHttpRequest, slug: str, position: int) -> HttpResponse:
    """A rater's correction of their item's automatic score, with the reason: the score
    section again (htmx), or the item page."""
    study = study_get_for_rater_or_404(request.user, slug)
    rater = selectors.rater_for(study=study, user=request.user)
    view = selectors.rater_item(rater=rater, position=position)
    if view is None:
        raise Http404("No such item in your queue")
    form = ScoreCorrectionForm(request.POST)
    if form.is_valid():
        try:
            rater_score_correct(
                assignment=view.assignment,
                value=form.cleaned_data["value"],
                reason=form.cleaned_data["reason"],
            )
        except ScoreCorrectionRefused as refused:
            form.add_error(None, str(refused))
        else:
            if not request.htmx:
                messages.success(request, "The score was corrected; your reason is recorded.")
                return redirect("ratings:rate", slug=study.slug, position=position)
            form = None
    status = 400 if form is not None else 200
    context = {"study": study, "rater": rater, "view": view}
    context.update(_score_context(view.assignment, form))
    if request.htmx:
        return render(request, "ratings/rate.html#score", context, status=status)
    context["form"] = LabelForm(
        item=view.assignment.item,
        content=view.content,
        initial=initial_from(
            decision_from_row(view.current) if view.current else None,
            view.assignment.item.kind,
        ),
    )
    return render(request, "ratings/rate.html", context, status=status)


@require_http_methods(["GET"])
@login_required
def adjudication_queue(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_adjudicator_or_404(request.user, slug)
    states = selectors.adjudication_queue(study=study, user=request.user)
    return render(request, "ratings/adjudication_queue.html", {"study": study, "states": states})


@require_http_methods(["GET", "POST"])
@login_required
def adjudicate(request: AuthenticatedHttpRequest, slug: str, item_id: int) -> HttpResponse:
    study = study_get_for_adjudicator_or_404(request.user, slug)
    view = selectors.adjudication_item(study=study, item_id=item_id, user=request.user)
    if view is None or view.labelled_by_user:
        # Someone who labelled an item never sees the other labels of it here.
        raise Http404("No such item to adjudicate")
    form = AdjudicationForm(
        request.POST or None, item=view.item, content=view.content, labels=view.labels
    )
    if request.method == "POST" and form.is_valid():
        decision = form.decision()
        if decision is not None:
            chosen = form.chosen_label_id()
            try:
                adjudication_save(
                    item=view.item,
                    user=request.user,
                    decision=decision,
                    reason=form.cleaned_data["reason"],
                    chosen_label=Label.objects.get(pk=chosen) if chosen else None,
                )
            except (DecisionError, Label.DoesNotExist) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Adjudicated.")
                return redirect("ratings:adjudication_queue", slug=study.slug)
    context = {"study": study, "view": view, "form": form}
    return render(request, "ratings/adjudicate.html", context, status=400 if form.errors else 200)
