"""The sample-size calculator page: the primary contrast's power question, its answer
(analysis.power), and a button that writes the answer into a draft study's quota."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.analysis.forms_power import PowerForm
from studyapp.analysis.selectors_plan import plan_state
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import roles
from studyapp.studies.models import Arm, Study
from studyapp.studies.quotas import QuotaRefusedError, study_quota_per_arm_set


def power_defaults(study: Study) -> dict:
    """The calculator's starting question for a study: its arms and answers per
    participant, the analysis plan's primary contrast (pooled, or each LLM arm against
    control) and alpha, and conventional planning values for the proportions."""
    plan = plan_state(study=study).current.content
    primary = next(c for c in plan["contrasts"] if c["primary"])
    arms = list(study.arms.order_by("key").values_list("kind", "weight"))
    control = [weight for kind, weight in arms if kind == Arm.Kind.CONTROL]
    llm = [weight for kind, weight in arms if kind == Arm.Kind.LLM]
    # Weights only for the shape the contrast assumes (one control, LLM arms) and only
    # when they differ: equal weights are the default anyway.
    weights = control + llm if len(control) == 1 and llm and len(set(control + llm)) > 1 else []
    return {
        "p_control": 0.5,
        "effect": "odds_ratio",
        "odds_ratio": 1.5,
        "p_llm": "",
        "arms": max(len(arms), 2),
        "arm_weights": ", ".join(str(w) for w in weights),
        "comparison": "each" if primary["a"] == "each_llm" else "pooled",
        "alpha": plan["alpha"],
        "power": 0.8,
        "sidedness": "two-sided",
        "answers_per_participant": study.scenarios_per_participant,
        "icc": 0.05,
    }


@require_http_methods(["GET", "POST"])
@login_required_htmx
def power(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_STUDY)
    if request.method == "POST":
        # Writing the quota changes the study: its owners and collaborators only.
        if not request.user.has_perm(roles.CHANGE_STUDY, study):
            raise Http404("No such study")
        return _quota_write(request, study)
    form = PowerForm(request.GET if request.GET else power_defaults(study))
    return _page(request, study, form)


def _page(
    request: AuthenticatedHttpRequest, study: Study, form: PowerForm, status: int = 200
) -> HttpResponse:
    valid = form.is_valid()
    context = {
        "study": study,
        "form": form,
        "result": form.result if valid else None,
        "is_draft": study.status == Study.Status.DRAFT,
        "may_change": request.user.has_perm(roles.CHANGE_STUDY, study),
    }
    return render(request, "analysis/power.html", context, status=status)


def _quota_write(request: AuthenticatedHttpRequest, study: Study) -> HttpResponse:
    """Recompute from the posted question (never trust a posted figure) and write it."""
    form = PowerForm(request.POST)
    if not form.is_valid():
        return _page(request, study, form, status=400)
    quota = form.result.quota_per_arm
    try:
        old = study_quota_per_arm_set(study=study, quota=quota, set_by=request.user)
    except QuotaRefusedError as exc:
        messages.error(request, str(exc))
    else:
        before = "no quota" if old is None else f"{old}"
        messages.success(
            request,
            f"Quota per arm set to {quota} responses (was {before}) by "
            f"{request.user.get_username()}.",
        )
    question = {name: form.data.get(name, "") for name in form.fields}
    url = reverse("analysis:power", args=[study.slug]) + "?" + urlencode(question)
    return HttpResponseRedirect(url)
