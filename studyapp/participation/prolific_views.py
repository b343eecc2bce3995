"""The investigators' Prolific page of a study: sync, review (approve, reject with a
reason) and bonuses. Every write goes through participation.prolific_sync."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.participation import prolific_sync, prolific_webhooks
from studyapp.participation.models import Participant
from studyapp.participation.prolific_api import ProlificError, ProlificNotConfiguredError
from studyapp.participation.prolific_forms import BonusForm, ReviewForm
from studyapp.studies import roles
from studyapp.studies.models import Study


def _rows(study: Study, submissions) -> list[dict]:
    """Each submission beside the participant here (their number and status, never the
    PID), in one query."""
    here = {
        pid: (pk, status)
        for pid, pk, status in Participant.objects.humans()
        .filter(study=study, prolific_pid__in=[s.participant_id for s in submissions])
        .values_list("prolific_pid", "pk", "status")
    }
    labels = dict(Participant.Status.choices)
    rows = []
    for s in submissions:
        pk, status = here.get(s.participant_id, (None, ""))
        rows.append(
            {
                "id": s.id,
                "status": s.status,
                "participant": pk,
                "status_here": labels.get(status, ""),
                "reviewable": s.status == prolific_sync.REVIEWABLE,
                "bonuses": sum(s.bonus_payments) / 100 if s.bonus_payments else None,
            }
        )
    return rows


@require_http_methods(["GET", "POST"])
@login_required_htmx
def prolific_page(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    context: dict = {"study": study, "error": "", "rows": [], "report": None}
    try:
        submissions = prolific_sync.study_submissions(study=study)
    except ProlificNotConfiguredError as exc:
        context["error"] = str(exc)
        return render(request, "participation/prolific_review.html", context, status=200)
    except ProlificError as exc:
        context["error"] = str(exc)
        return render(request, "participation/prolific_review.html", context, status=502)
    awaiting = [s.id for s in submissions if s.status == prolific_sync.REVIEWABLE]
    review = ReviewForm(awaiting=awaiting)
    bonus = BonusForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("form")
        try:
            if action == "sync":
                report = prolific_sync.study_sync_prolific(study_id=study.pk)
                changed = sum(report.changed.values())
                messages.success(
                    request,
                    f"Synced {report.submissions} submissions: {changed} participants "
                    f"updated, {len(report.mismatched)} to look at, "
                    f"{report.unmatched} never entered here.",
                )
                return redirect("prolific:page", slug=study.slug)
            if action == "review":
                review = ReviewForm(request.POST, awaiting=awaiting)
                if review.is_valid():
                    data = review.cleaned_data
                    if data["action"] == "approve":
                        n = prolific_sync.prolific_approve(
                            study=study,
                            submission_ids=data["submission_ids"],
                            user_id=request.user.pk,
                        )
                        messages.success(request, f"Approved {n} submissions.")
                    else:
                        n = prolific_sync.prolific_reject(
                            study=study,
                            submission_ids=data["submission_ids"],
                            category=data["rejection_category"],
                            message=data["message"],
                            user_id=request.user.pk,
                        )
                        messages.success(request, f"Rejected {n} submissions.")
                    return redirect("prolific:page", slug=study.slug)
                status = 400
            elif action == "bonus":
                bonus = BonusForm(request.POST)
                if bonus.is_valid():
                    rows = bonus.cleaned_data["lines"]
                    prolific_sync.prolific_pay_bonuses(
                        study=study, rows=rows, user_id=request.user.pk
                    )
                    messages.success(request, f"Bonuses paid to {len(rows)} submissions.")
                    return redirect("prolific:page", slug=study.slug)
                status = 400
            else:
                status = 400
                context["error"] = "Unknown action."
        except ProlificError as exc:
            context["error"] = str(exc)
            status = 400 if isinstance(exc, prolific_sync.ReviewRefusedError) else 502
    context.update(
        {
            "rows": _rows(study, submissions),
            "review": review,
            "bonus": bonus,
            "awaiting": len(awaiting),
        }
    )
    return render(request, "participation/prolific_review.html", context, status=status)


@csrf_exempt  # Prolific cannot send a CSRF token; the signature is the check.
@require_POST
def prolific_webhook(request: HttpRequest) -> HttpResponse:
    """Prolific's hook requests: 403 unless signed with the workspace's secret and recent;
    then a submission's new status is applied (prolific_webhooks)."""
    hooks = prolific_webhooks
    if not hooks.signature_is_valid(
        secret=settings.PROLIFIC_WEBHOOK_SECRET,
        timestamp=request.headers.get(hooks.TIMESTAMP_HEADER, ""),
        body=request.body,
        given=request.headers.get(hooks.SIGNATURE_HEADER, ""),
    ):
        return JsonResponse({"error": "bad or missing signature"}, status=403)
    try:
        result = hooks.webhook_apply(body=request.body)
    except hooks.BadEventError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"event_type": result.event_type, "applied": result.applied})
