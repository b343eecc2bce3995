"""The dashboard's information-transfer section (loaded by htmx after the dashboard).

Told -> named by the model -> reported in the answer, per arm, under the dashboard's
filters; blinded (`?blinded=1`) it names arms by letter only, as the dashboard does.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404, user_sees_blinded
from studyapp.analysis.forms import DashboardFilterForm
from studyapp.analysis.information import information_transfer
from studyapp.analysis.information_tables import turn_figure
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import roles


@require_GET
@login_required_htmx
def information(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    form = DashboardFilterForm(
        request.GET,
        languages=study.languages,
        always_blinded=user_sees_blinded(request.user, study),
    )
    tables = information_transfer(study=study, filters=form.filters(), blinded=form.is_blinded)
    context = {
        "study": study,
        "info": tables,
        "blinded": form.is_blinded,
        "turn_figure": turn_figure(tables) if tables.curves else None,
    }
    return render(request, "analysis/_information.html", context)
