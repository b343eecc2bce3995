"""The study builder: a new study (from scratch or as a copy), its settings and its
scenarios, as pages for investigators (the admin's JSON text areas are not for them).

Writes are studies.builder's; each page asks CHANGE_STUDY (owners and collaborators) and
answers 404 to anyone else, so a slug cannot be probed. The scenario form posts its
sections as rows; the row buttons (add, remove, move) post the form back to the page,
which re-renders it with the rows changed and saves nothing (htmx swaps the form alone).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.mfa import user_has_mfa
from studyapp.accounts.permissions import endpoints_visible_to, study_get_for_user_or_404
from studyapp.core.forms import add_validation_error
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import builder, roles
from studyapp.studies.design_files import DesignFileError
from studyapp.studies.forms_builder import (
    ScenarioForm,
    StudyCopyForm,
    StudyNewForm,
    StudySettingsForm,
    sections_apply,
    sections_errors,
    sections_from_post,
)
from studyapp.studies.models import Scenario, Study
from studyapp.studies.services import disposition_scale_get_or_create_default
from studyapp.studies.translations import scenario_translation_states

# --- A new study ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required_htmx
def study_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Both ways to start a study; `?from=<slug>` preselects the study to copy."""
    # A fresh installation has no scale yet: the default one is there to choose.
    default_scale = disposition_scale_get_or_create_default()
    how = request.POST.get("how")
    new_form = StudyNewForm(
        request.POST if how == "scratch" else None,
        initial={"disposition_scale": default_scale.pk},
        prefix="new",
    )
    copy_form = StudyCopyForm(
        request.POST if how == "copy" else None,
        user=request.user,
        initial={"source": Study.objects.filter(slug=request.GET.get("from", "")).first()},
        prefix="copy",
    )
    study = None
    if how == "scratch" and new_form.is_valid():
        data = new_form.cleaned_data
        try:
            study = builder.study_create(
                slug=data["slug"],
                title=data["title"],
                languages=new_form.languages(),
                disposition_scale=data["disposition_scale"],
                consent_text=data["consent_text"],
                instructions_text=data["instructions_text"],
                created_by=request.user,
                quota_per_arm=data["quota_per_arm"],
            )
        except ValidationError as exc:
            add_validation_error(new_form, exc)
    elif how == "copy" and copy_form.is_valid():
        data = copy_form.cleaned_data
        try:
            study = builder.study_copy(
                source=data["source"],
                slug=data["slug"],
                title=data["title"],
                user=request.user,
                endpoints=endpoints_visible_to(request.user),
                may_create_endpoints=request.user.is_superuser,
            )
        except DesignFileError as exc:
            for error in exc.errors:
                copy_form.add_error(None, error)
    if study is not None:
        messages.success(request, f"Study {study.slug} created as a draft: you are its owner.")
        return redirect("studies:settings", slug=study.slug)
    invalid = new_form.errors or copy_form.errors
    context = {"new_form": new_form, "copy_form": copy_form, "how": how}
    return render(request, "studies/study_new.html", context, status=400 if invalid else 200)


# --- Settings ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required_htmx
def study_settings(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    locked = builder.study_started(study)
    form = StudySettingsForm(
        request.POST or None,
        study=study,
        locked=locked,
        may_require_mfa=request.user.has_perm(roles.MANAGE_MEMBERS, study),
        user_has_mfa=user_has_mfa(request.user),
    )
    if request.method == "POST" and form.is_valid():
        scale = form.cleaned_data.get("disposition_scale")
        remapped = scale != study.disposition_scale and study.scenarios.exists()
        try:
            builder.study_settings_update(study_id=study.pk, values=form.cleaned_data)
        except builder.BuilderError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, "Settings saved.")
            if remapped:
                messages.info(
                    request,
                    f"The scenarios' gold dispositions are now levels of {scale.name}, "
                    "by their codes: check them on the scenarios page.",
                )
            return redirect("studies:settings", slug=study.slug)
    context = {"study": study, "form": form, "locked": locked}
    return render(request, "studies/settings.html", context, status=400 if form.errors else 200)


# --- Scenarios -----------------------------------------------------------------------


@require_http_methods(["GET"])
@login_required_htmx
def scenario_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    scenarios = (
        Scenario.objects.filter(study=study)
        .select_related("gold_disposition")
        .order_by("key", "-version")
    )
    return render(request, "studies/scenarios.html", {"study": study, "scenarios": scenarios})


def _scenario_page(
    request: AuthenticatedHttpRequest,
    study: Study,
    scenario: Scenario | None,
    form: ScenarioForm,
    sections: list[dict[str, str]],
    section_errors: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    section_errors = section_errors or {}
    context = {
        "study": study,
        "scenario": scenario,
        "referenced": scenario is not None and builder.scenario_is_referenced(scenario),
        # Its translations into the study's other languages, each with its page.
        "translations": scenario_translation_states(study=study, scenarios=[scenario])
        if scenario is not None
        else [],
        "form": form,
        "sections": [
            {"heading": s["heading"], "text": s["text"], "error": section_errors.get(i, "")}
            for i, s in enumerate(sections)
        ],
        "sections_error": section_errors.get(-1, ""),
    }
    template = "studies/scenario_edit.html"
    if request.htmx:
        template += "#scenario-form"
        # htmx swaps no 4xx response by default (its responseHandling): the refused form,
        # with its messages, must come back as a 200 to be shown.
        status = 200
    return render(request, template, context, status=status)


def _scenario_form(
    request: AuthenticatedHttpRequest, study: Study, scenario: Scenario | None
) -> HttpResponse:
    if request.method == "GET":
        form = ScenarioForm(study=study, scenario=scenario)
        sections = (
            [dict(s) for s in scenario.sections] if scenario else [{"heading": "", "text": ""}]
        )
        sections = [{"heading": s.get("heading", ""), "text": s.get("text", "")} for s in sections]
        return _scenario_page(request, study, scenario, form, sections)
    form = ScenarioForm(request.POST, study=study, scenario=scenario)
    sections = sections_from_post(request.POST)
    action = request.POST.get("section_action", "")
    if action:
        # A row button: the form comes back with the rows changed, unsaved and unjudged.
        form = ScenarioForm(initial=request.POST.dict(), study=study, scenario=scenario)
        if scenario is not None:
            form.initial["key"] = scenario.key
        return _scenario_page(request, study, scenario, form, sections_apply(sections, action))
    errors = sections_errors(sections)
    if not sections:
        errors[-1] = "A scenario needs at least one section."
    if form.is_valid() and not errors:
        values = {**form.cleaned_data, "sections": sections}
        try:
            saved, new_version = builder.scenario_save(
                study=study, scenario_id=scenario.pk if scenario else None, values=values
            )
        except ValidationError as exc:
            if "sections" in getattr(exc, "error_dict", {}):
                errors[-1] = " ".join(exc.message_dict["sections"])
            add_validation_error(form, exc)
        else:
            if new_version:
                messages.success(
                    request,
                    f"Participants or evaluations used version {scenario.version}, which stays "
                    f"as they saw it: your changes are version {saved.version}, now the active "
                    "one.",
                )
            else:
                messages.success(request, f"Scenario {saved.key} saved.")
            url = reverse("studies:scenarios", args=[study.slug])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _scenario_page(request, study, scenario, form, sections, errors, status=400)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def scenario_new(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    return _scenario_form(request, study, None)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def scenario_edit(request: AuthenticatedHttpRequest, slug: str, scenario_id: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    scenario = get_object_or_404(Scenario, pk=scenario_id, study=study)
    if not scenario.is_active:
        messages.error(request, "This is an earlier version: edit the active one.")
        return redirect("studies:scenarios", slug=study.slug)
    return _scenario_form(request, study, scenario)


@require_POST
@login_required_htmx
def scenario_delete(
    request: AuthenticatedHttpRequest, slug: str, scenario_id: int
) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    scenario = get_object_or_404(Scenario, pk=scenario_id, study=study)
    try:
        builder.scenario_delete(study=study, scenario_id=scenario.pk)
    except builder.BuilderError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Scenario {scenario.key} v{scenario.version} deleted.")
    url = reverse("studies:scenarios", args=[study.slug])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
