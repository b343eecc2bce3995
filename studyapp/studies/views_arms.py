"""The study builder's arms pages: /studies/<slug>/arms/… (CHANGE_STUDY). Writes are
studies.builder's (arm_save, arm_delete); an endpoint is chosen among those the user may
use (accounts.permissions.endpoints_visible_to), or the one the arm already has. Once
participants entered, blinding terms may be added but not removed (the rule is said
beside the field; studies.builder_blinding)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import endpoints_visible_to, study_get_for_user_or_404
from studyapp.core.forms import add_validation_error
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import builder, builder_recruitment, roles
from studyapp.studies.forms_builder import ArmForm
from studyapp.studies.models import Arm, Study


@require_GET
@login_required_htmx
def arm_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    context = {
        "study": study,
        "arms": study.arms.select_related("endpoint").order_by("key"),
        "allocated": study.allocations.exists(),
    }
    return render(request, "studies/arms.html", context)


def _arm_form(request: AuthenticatedHttpRequest, study: Study, arm: Arm | None) -> HttpResponse:
    locked = arm is not None and builder.arm_is_allocated(arm)
    form = ArmForm(
        request.POST or None,
        endpoints=endpoints_visible_to(request.user),
        arm=arm,
        locked=locked,
        terms_fixed=builder_recruitment.design_fixed(study),
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = builder.arm_save(
                study=study, arm_id=arm.pk if arm else None, values=form.arm_values()
            )
        except builder.BuilderError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, f"Arm {saved.key} saved.")
            return redirect("studies:arms", slug=study.slug)
    context = {"study": study, "arm": arm, "form": form, "locked": locked}
    return render(request, "studies/arm_edit.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def arm_new(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    return _arm_form(request, study, None)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def arm_edit(request: AuthenticatedHttpRequest, slug: str, arm_id: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    return _arm_form(request, study, get_object_or_404(Arm, pk=arm_id, study=study))


@require_POST
@login_required_htmx
def arm_delete(request: AuthenticatedHttpRequest, slug: str, arm_id: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    arm = get_object_or_404(Arm, pk=arm_id, study=study)
    try:
        builder.arm_delete(study=study, arm_id=arm.pk)
    except builder.BuilderError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Arm {arm.key} deleted.")
    url = reverse("studies:arms", args=[study.slug])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
