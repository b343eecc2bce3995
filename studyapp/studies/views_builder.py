"""The study builder: a new study (from scratch or as a copy), its settings and its
scenarios, as pages for investigators (the admin's JSON text areas are not for them).

Writes are studies.builder's; each page asks CHANGE_STUDY (owners and collaborators) and
answers 404 to anyone else, so a slug cannot be probed. The scenario form posts its
sections, key facts and rubric items as rows (studies.forms_scenario_content); the row
buttons (add, remove, move) post the form back to the page, which re-renders it with the
rows changed and saves nothing (htmx swaps the form alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
from studyapp.studies.forms_scenario_content import (
    FACT_FIELDS,
    RUBRIC_APPLIES_TO_LABELS,
    RUBRIC_FIELDS,
    key_fact_rows,
    key_fact_rows_from_post,
    key_facts_parse,
    rows_apply,
    rubric_parse,
    rubric_rows,
    rubric_rows_from_post,
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


@dataclass
class _ScenarioRows:
    """The page's rows as they are being edited, with the messages by row index and field
    (sections: a message per index, -1 for the list as a whole; key facts and rubric: a
    dict of field -> message per index, the list's own under -1)."""

    sections: list[dict[str, str]]
    key_facts: list[dict[str, str]]
    rubric: list[dict[str, str]]
    section_errors: dict[int, str] = field(default_factory=dict)
    fact_errors: dict[int, dict[str, str]] = field(default_factory=dict)
    rubric_errors: dict[int, dict[str, str]] = field(default_factory=dict)

    def context(self) -> dict:
        return {
            "sections": [
                {
                    "heading": s["heading"],
                    "text": s["text"],
                    "error": self.section_errors.get(i, ""),
                }
                for i, s in enumerate(self.sections)
            ],
            "sections_error": self.section_errors.get(-1, ""),
            "key_facts": [
                {**row, "errors": self.fact_errors.get(i, {})}
                for i, row in enumerate(self.key_facts)
            ],
            "key_facts_error": self.fact_errors.get(-1, {}).get("row", ""),
            "rubric": [
                {**row, "errors": self.rubric_errors.get(i, {})}
                for i, row in enumerate(self.rubric)
            ],
            "rubric_error": self.rubric_errors.get(-1, {}).get("row", ""),
            "applies_to_choices": list(RUBRIC_APPLIES_TO_LABELS.items()),
        }


def _scenario_page(
    request: AuthenticatedHttpRequest,
    study: Study,
    scenario: Scenario | None,
    form: ScenarioForm,
    rows: _ScenarioRows,
    status: int = 200,
) -> HttpResponse:
    context = {
        "study": study,
        "scenario": scenario,
        "referenced": scenario is not None and builder.scenario_is_referenced(scenario),
        # Its translations into the study's other languages, each with its page.
        "translations": scenario_translation_states(study=study, scenarios=[scenario])
        if scenario is not None
        else [],
        "form": form,
        **rows.context(),
    }
    template = "studies/scenario_edit.html"
    if request.htmx:
        template += "#scenario-form"
        # htmx swaps no 4xx response by default (its responseHandling): the refused form,
        # with its messages, must come back as a 200 to be shown.
        status = 200
    return render(request, template, context, status=status)


def _scenario_rows_posted(
    request: AuthenticatedHttpRequest, scenario: Scenario | None
) -> tuple[_ScenarioRows, bool, bool]:
    """The rows as posted, and whether the page had the key fact and rubric editors (a
    page from before them keeps the scenario's own: it said the admin edits them)."""
    facts = key_fact_rows_from_post(request.POST)
    rubric = rubric_rows_from_post(request.POST)
    rows = _ScenarioRows(
        sections=sections_from_post(request.POST),
        key_facts=facts if facts is not None else key_fact_rows(_stored(scenario, "key_facts")),
        rubric=rubric if rubric is not None else rubric_rows(_stored(scenario, "rubric")),
    )
    return rows, facts is not None, rubric is not None


def _stored(scenario: Scenario | None, name: str) -> list[dict]:
    return list(getattr(scenario, name)) if scenario is not None else []


def _scenario_form(
    request: AuthenticatedHttpRequest, study: Study, scenario: Scenario | None
) -> HttpResponse:
    if request.method == "GET":
        form = ScenarioForm(study=study, scenario=scenario)
        sections = (
            [dict(s) for s in scenario.sections] if scenario else [{"heading": "", "text": ""}]
        )
        sections = [{"heading": s.get("heading", ""), "text": s.get("text", "")} for s in sections]
        rows = _ScenarioRows(
            sections=sections,
            key_facts=key_fact_rows(_stored(scenario, "key_facts")),
            rubric=rubric_rows(_stored(scenario, "rubric")),
        )
        return _scenario_page(request, study, scenario, form, rows)
    form = ScenarioForm(request.POST, study=study, scenario=scenario)
    rows, facts_shown, rubric_shown = _scenario_rows_posted(request, scenario)
    actions = {
        name: request.POST.get(name, "")
        for name in ("section_action", "fact_action", "rubric_action")
    }
    if any(actions.values()):
        # A row button: the form comes back with the rows changed, unsaved and unjudged.
        form = ScenarioForm(initial=request.POST.dict(), study=study, scenario=scenario)
        if scenario is not None:
            form.initial["key"] = scenario.key
        rows.sections = sections_apply(rows.sections, actions["section_action"])
        rows.key_facts = rows_apply(rows.key_facts, actions["fact_action"], FACT_FIELDS)
        rows.rubric = rows_apply(rows.rubric, actions["rubric_action"], RUBRIC_FIELDS)
        return _scenario_page(request, study, scenario, form, rows)
    rows.section_errors = sections_errors(rows.sections)
    if not rows.sections:
        rows.section_errors[-1] = "A scenario needs at least one section."
    values: dict = {"sections": rows.sections}
    if facts_shown:
        values["key_facts"], rows.fact_errors = key_facts_parse(rows.key_facts)
    if rubric_shown:
        values["rubric"], rows.rubric_errors = rubric_parse(rows.rubric)
    refused = rows.section_errors or rows.fact_errors or rows.rubric_errors
    if form.is_valid() and not refused:
        try:
            saved, new_version = builder.scenario_save(
                study=study,
                scenario_id=scenario.pk if scenario else None,
                values={**form.cleaned_data, **values},
            )
        except ValidationError as exc:
            # The model's checks of the lists go with the lists' own messages.
            found = exc.message_dict if hasattr(exc, "error_dict") else {}
            if "sections" in found:
                rows.section_errors[-1] = " ".join(found["sections"])
            if "key_facts" in found:
                rows.fact_errors[-1] = {"row": " ".join(found["key_facts"])}
            if "rubric" in found:
                rows.rubric_errors[-1] = {"row": " ".join(found["rubric"])}
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
            _warn_translations_behind(request, study, saved)
            url = reverse("studies:scenarios", args=[study.slug])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _scenario_page(request, study, scenario, form, rows, status=400)


def _warn_translations_behind(request, study: Study, scenario: Scenario) -> None:
    """After a save: the scenario's translations that now lack something or no longer
    match it, said at once (a running study's participants in that language would read
    the source where a section is missing, and the study cannot go live with a gap)."""
    behind = [
        state
        for state in scenario_translation_states(study=study, scenarios=[scenario])
        if state.state != "current"
    ]
    if not behind:
        return
    listed = ", ".join(
        f"{state.language_name} ({state.state.replace('_', ' ')})" for state in behind
    )
    running = (
        " Participants in that language read the source where it lacks a text."
        if study.is_running
        else ""
    )
    messages.warning(
        request,
        f"Scenario {scenario.key}'s translations need work: {listed}. Translate it on "
        f"the Translations page.{running}",
    )


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
