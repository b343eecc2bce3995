"""The builder's blinding page: /studies/<slug>/blinding/ (CHANGE_STUDY; 404 for anyone
else). What the blinding guard does with a model's name (studies.builder_blinding), and
each arm's blinding terms, edited on the arm's page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.forms import add_validation_error
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import builder_blinding, builder_recruitment, roles
from studyapp.studies.forms_blinding import BlindingForm


@require_http_methods(["GET", "POST"])
@login_required_htmx
def blinding(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    form = BlindingForm(request.POST or None, study=study)
    if request.method == "POST" and form.is_valid():
        try:
            builder_blinding.study_blinding_update(
                study_id=study.pk, values=dict(form.cleaned_data), by=request.user
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, "Blinding saved.")
            return redirect("studies:blinding", slug=study.slug)
    context = {
        "study": study,
        "form": form,
        "fixed": builder_recruitment.design_fixed(study),
        "llm_arms": [arm for arm in study.arms.order_by("key") if arm.is_llm],
    }
    return render(request, "studies/blinding.html", context, status=400 if form.errors else 200)
