"""The live monitor: a page whose figures refresh themselves (htmx) every few seconds."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.analysis.monitor import study_monitor
from studyapp.chat.health import ERROR_RATE_DEGRADED, FAILED_IN_A_ROW, MIN_REPLIES_FOR_RATE
from studyapp.core.http import AuthenticatedHttpRequest, HtmxHttpRequest
from studyapp.studies import roles

REFRESH_SECONDS = 5


def _context(study) -> dict:
    return {
        "study": study,
        "monitor": study_monitor(study=study),
        "refresh_seconds": REFRESH_SECONDS,
        "failed_in_a_row": FAILED_IN_A_ROW,
        "min_replies": MIN_REPLIES_FOR_RATE,
        "error_rate_pct": round(ERROR_RATE_DEGRADED * 100),
    }


@require_GET
@login_required
def monitor(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    return render(request, "analysis/monitor.html", _context(study))


@require_GET
@login_required_htmx
def monitor_live(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The live block alone, polled by the page."""
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    return render(request, "analysis/monitor.html#live", _context(study))
