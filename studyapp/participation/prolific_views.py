"""The investigators' Prolific page of a study: sync, review (approve, reject with a
reason) and bonuses. Every write goes through participation.prolific_sync. The page shows
the last sync's submissions (ProlificSync: "Sync now", or the scheduled sync), so opening
it makes no request to Prolific."""

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
from studyapp.participation.models import Participant, ProlificSync
from studyapp.participation.prolific_api import ProlificError, ProlificNotConfiguredError
from studyapp.participation.prolific_forms import BonusForm, ReviewForm
from studyapp.studies import roles
from studyapp.studies.models import Study


def _rows(snapshot: ProlificSync | None) -> list[dict]:
    """Each submission of the last sync beside the participant here (their number and
    current status, never the PID), in one query."""
    if snapshot is None:
        return []
    ids = [s["participant"] for s in snapshot.submissions if s["participant"]]
    status_here = dict(Participant.objects.filter(pk__in=ids).values_list("pk", "status"))
    labels = dict(Participant.Status.choices)
    return [
        {
            "id": s["id"],
            "status": s["status"],
            "participant": s["participant"],
            "status_here": labels.get(status_here.get(s["participant"], ""), ""),
            "reviewable": s["status"] == prolific_sync.REVIEWABLE,
            "bonuses": s["bonus_cents"] / 100 if s["bonus_cents"] else None,
        }
        for s in snapshot.submissions
    ]


def _sync_message(report: prolific_sync.SyncReport) -> str:
    changed = sum(report.changed.values())
    return (
        f"Synced {report.submissions} submissions: {changed} participants updated, "
        f"{len(report.mismatched)} to look at, {report.unmatched} never entered here."
    )


def _refresh(request, study: Study) -> None:
    """After a review or bonuses: read the submissions again, so the page shows what
    Prolific now says (the action itself succeeded whatever this does)."""
    try:
        prolific_sync.study_sync_prolific(study_id=study.pk)
    except ProlificError as exc:
        messages.warning(request, f"The list below may be out of date: {exc}")


@require_http_methods(["GET", "POST"])
@login_required_htmx
def prolific_page(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The page renders from the last sync (ProlificSync) and never calls Prolific; only
    a POST does: "Sync now", a review, bonuses (each checked against Prolific's list)."""
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    context: dict = {"study": study, "error": "", "rows": [], "snapshot": None}
    try:
        prolific_sync.study_prolific_configured(study=study)
    except ProlificNotConfiguredError as exc:
        context["error"] = str(exc)
        return render(request, "participation/prolific_review.html", context, status=200)
    snapshot = ProlificSync.objects.filter(study=study).first()
    rows = _rows(snapshot)
    awaiting = [r["id"] for r in rows if r["reviewable"]]
    review = ReviewForm(awaiting=awaiting)
    bonus = BonusForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("form")
        try:
            if action == "sync":
                report = prolific_sync.study_sync_prolific(study_id=study.pk)
                messages.success(request, _sync_message(report))
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
                    _refresh(request, study)
                    return redirect("prolific:page", slug=study.slug)
                status = 400
            elif action == "bonus":
                bonus = BonusForm(request.POST)
                if bonus.is_valid():
                    lines = bonus.cleaned_data["lines"]
                    prolific_sync.prolific_pay_bonuses(
                        study=study, rows=lines, user_id=request.user.pk
                    )
                    messages.success(request, f"Bonuses paid to {len(lines)} submissions.")
                    _refresh(request, study)
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
            "snapshot": snapshot,
            "rows": rows,
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
