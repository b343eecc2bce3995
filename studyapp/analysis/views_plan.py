"""The analysis plan's page: what the plan says (its canonical JSON and SHA-256, its
versions, the definitions in words) and, for its owners and collaborators, the editor. A
draft is edited in place; after the first allocation a change is a new version with a
reason (studies.services.plan_save)."""

from __future__ import annotations

import json
import logging

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.analysis.forms import AnalysisPlanForm
from studyapp.analysis.selectors_plan import plan_state
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import analysis_plan as plans
from studyapp.studies import roles
from studyapp.studies.models import AnalysisPlan
from studyapp.studies.services import plan_save

logger = logging.getLogger(__name__)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def plan(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_DESIGN)
    state = plan_state(study=study)
    status = 200
    may_change = request.user.has_perm(roles.CHANGE_STUDY, study)
    if request.method == "POST":
        if not may_change:
            raise Http404("No such study")
        form = AnalysisPlanForm(request.POST, locked=state.locked is not None)
        if form.is_valid():
            try:
                saved = plan_save(
                    study=study,
                    content=form.cleaned_data["content"],
                    changed_by=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except plans.PlanError as error:
                for problem in error.errors:
                    form.add_error("content", problem)
            except ValueError as error:
                form.add_error("reason", str(error))
            else:
                logger.info(
                    "analysis plan of study %s saved as v%s by user %s",
                    study.pk,
                    saved.version,
                    request.user.pk,
                )
                messages.success(request, f"Saved: plan v{saved.version}, sha256 {saved.sha256}.")
                return redirect("analysis:plan", slug=study.slug)
        status = 400
    else:
        form = AnalysisPlanForm(
            initial={"content": json.dumps(state.current.content, indent=2, sort_keys=True)},
            locked=state.locked is not None,
        )
    context = {
        "study": study,
        "may_change": may_change,
        "state": state,
        "form": form,
        "canonical": plans.canonical_json(state.current.content),
        "versions": AnalysisPlan.objects.filter(study=study)
        .select_related("created_by")
        .order_by("-version"),
        "outcomes": plans.OUTCOMES.values(),
        "sets": plans.ANALYSIS_SETS.items(),
        "itt_missing": plans.ITT_MISSING.items(),
        "multiplicity": plans.MULTIPLICITY.items(),
        "test_rule": plans.TEST_RULE,
        "adjusted": plans.ADJUSTED,
        "sensitivity": plans.SENSITIVITY,
        "arms": study.arms.order_by("key").values_list("key", "kind"),
    }
    return render(request, "analysis/plan.html", context, status=status)
