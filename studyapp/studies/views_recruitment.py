"""The builder's recruitment pages: /studies/<slug>/allocation/, /screening/ and
/prolific/settings/ (CHANGE_STUDY; 404 for anyone else). What the admin edited as JSON,
as forms: writes are studies.builder_recruitment's, each message beside its field.

The screening page's option rows have add and remove buttons that post the form back;
the page re-renders it with the rows changed and saves nothing (htmx swaps the form
alone, as on the scenario page).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.forms import add_validation_error
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import builder, builder_recruitment, roles
from studyapp.studies.forms_recruitment import (
    CHECK_BLANK,
    SCREENING_BLANK,
    AllocationForm,
    ProlificSettingsForm,
    ScreeningForm,
    check_rows_from_post,
    rows_apply,
    screening_rows_from_post,
)
from studyapp.studies.models import Study


def _fixed_reason(study: Study) -> str:
    if not builder_recruitment.design_fixed(study):
        return ""
    return builder_recruitment.fixed_reason(study)


def _save(
    request: AuthenticatedHttpRequest,
    form: Form,
    update: Callable[..., Study],
    study: Study,
    values: dict,
    done: str,
) -> bool:
    """Run the service; True when saved (with the message), else its refusal is on the
    form, beside the field it names."""
    try:
        update(study_id=study.pk, values=values)
    except builder.BuilderError as exc:
        form.add_error(None, str(exc))
    except ValidationError as exc:
        add_validation_error(form, exc)
    else:
        messages.success(request, done)
        return True
    return False


@require_http_methods(["GET", "POST"])
@login_required_htmx
def allocation(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    reason = _fixed_reason(study)
    form = AllocationForm(request.POST or None, study=study, fixed_reason=reason)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        if reason:
            for name in AllocationForm.FIXED:
                values.pop(name)
        update = builder_recruitment.study_allocation_update
        if _save(request, form, update, study, values, "Allocation and quotas saved."):
            return redirect("studies:allocation", slug=study.slug)
    context = {
        "study": study,
        "form": form,
        "fixed_reason": reason,
        "weight_total": builder_recruitment.weight_total(study),
        "arms": study.arms.order_by("key"),
    }
    return render(request, "studies/allocation.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def screening(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    reason = _fixed_reason(study)
    action = request.POST.get("row_action", "")
    status = 200
    if request.method == "POST" and action and not reason:
        # A row button: the form comes back with the rows changed, unsaved and unjudged.
        form = ScreeningForm(
            study=study,
            initial=request.POST.dict(),
            screening_rows=rows_apply(
                screening_rows_from_post(request.POST), action, "screening", SCREENING_BLANK
            ),
            check_rows=rows_apply(
                check_rows_from_post(request.POST), action, "check", CHECK_BLANK
            ),
        )
    else:
        form = ScreeningForm(request.POST or None, study=study, fixed_reason=reason)
        if request.method == "POST":
            if form.is_valid():
                values = dict(form.cleaned_data)
                if reason:
                    for name in builder_recruitment.SCREENING_FIXED:
                        values.pop(name)
                update = builder_recruitment.study_screening_update
                if _save(request, form, update, study, values, "Screening and check saved."):
                    url = reverse("studies:screening", args=[study.slug])
                    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
            status = 400
    context = {"study": study, "form": form, "fixed_reason": reason}
    template = "studies/screening.html"
    if request.htmx:
        template += "#screening-form"
        status = 200  # htmx swaps no 4xx response by default
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def prolific_settings(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    form = ProlificSettingsForm(request.POST or None, study=study)
    if request.method == "POST" and form.is_valid():
        update = builder_recruitment.study_prolific_update
        if _save(
            request, form, update, study, dict(form.cleaned_data), "Prolific settings saved."
        ):
            return redirect("studies:prolific_settings", slug=study.slug)
    context = {"study": study, "form": form}
    return render(
        request, "studies/prolific_settings.html", context, status=400 if form.errors else 200
    )
