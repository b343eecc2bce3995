"""Analyst pages: the dashboard (htmx filters, plotly figures), transcripts, downloads.

Members whose role shows results reach them (studies.roles.VIEW_RESULTS); a blinded view
(`?blinded=1`) names arms by letter everywhere and shows nothing that identifies them, and
is the only view a blinded analyst gets, whatever they ask for.
Exports name Prolific participants by pseudonym; `?identifiers=raw` adds the raw ids for
an investigator who recorded why (analysis.identifiers), and is itself recorded.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseForbidden,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404, user_sees_blinded
from studyapp.analysis import exports, identifiers, plots, selectors, selectors_plan, services
from studyapp.analysis.forms import (
    DashboardFilterForm,
    InferenceRevealForm,
    RawIdentifierReleaseForm,
)
from studyapp.analysis.guard import blinding_guard_table
from studyapp.analysis.information import transcript_facts
from studyapp.analysis.views_corrections import score_corrections_context
from studyapp.audit import services as audit
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.core.streaming import streaming_attachment
from studyapp.studies import roles

TASKS_PER_PAGE = 25


def _query(form: DashboardFilterForm, **override) -> str:
    """The form's current filters as a query string (for links that must keep them)."""
    filters = form.filters()
    params = {
        "completed_only": "1" if filters.completed_only else None,
        "attention_passed": "1" if filters.attention_passed else None,
        "date_from": filters.date_from,
        "date_to": filters.date_to,
        "language": filters.language,
        "pilot": "include" if filters.include_pilot else None,
        "blinded": "1" if form.is_blinded else None,
    }
    params.update(override)
    return urlencode({k: v for k, v in params.items() if v})


def _revealed_key(study) -> str:
    return f"analysis:inference-revealed:{study.pk}"


def _revealed(request: AuthenticatedHttpRequest, study) -> bool:
    """Whether this user recorded an interim look at the study in this session."""
    return bool(request.session.get(_revealed_key(study)))


@require_POST
@login_required
def reveal_inference(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Record an interim look at a live study's inferential results (who, when, why, the
    plan in force), then show them to this user for the rest of the session."""
    study = study_get_for_user_or_404(request.user, slug, roles.REVEAL_INFERENCE)
    form = InferenceRevealForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why you need the interim results (10 characters or more).")
        return redirect("analysis:dashboard", slug=study.slug)
    services.inference_reveal_record(
        study=study, user=request.user, reason=form.cleaned_data["reason"]
    )
    request.session[_revealed_key(study)] = True
    messages.success(
        request, "Recorded: the inferential results are shown to you in this session."
    )
    return redirect("analysis:dashboard", slug=study.slug)


def _filter_form(request: AuthenticatedHttpRequest, study) -> DashboardFilterForm:
    return DashboardFilterForm(
        request.GET,
        languages=study.languages,
        always_blinded=user_sees_blinded(request.user, study),
    )


def _blinded(request: AuthenticatedHttpRequest, study) -> bool:
    """`?blinded=1`, or always for a blinded analyst."""
    return request.GET.get("blinded") == "1" or user_sees_blinded(request.user, study)


def _blinded_query(blinded: bool) -> str:
    return "blinded=1" if blinded else ""


@require_GET
@login_required_htmx
@vary_on_headers("HX-Request")
def dashboard(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    form = _filter_form(request, study)
    filters = form.filters()
    data = selectors.dashboard(study=study, filters=filters, blinded=form.is_blinded)
    if data.transcripts_pending:
        services.conversation_scores_schedule(study_id=study.pk)
    plan = selectors_plan.plan_section(
        study=study,
        blinded=form.is_blinded,
        revealed=_revealed(request, study)
        and request.user.has_perm(roles.REVEAL_INFERENCE, study),
    )
    if plan.models_pending:
        services.plan_models_schedule(study_id=study.pk, version=plan.data_version)
    context = {
        "study": study,
        "form": form,
        "dashboard": data,
        "plan": plan,
        "reveal_form": InferenceRevealForm(),
        "may_reveal": request.user.has_perm(roles.REVEAL_INFERENCE, study),
        "figures": plots.dashboard_figures(data) + plots.plan_figures(plan),
        "tasks": selectors.task_page(
            study=study,
            filters=filters,
            arms=data.arms,
            page=form.page_number,
            per_page=TASKS_PER_PAGE,
        ),
        "query": _query(form),
        "blinded_query": _blinded_query(form.is_blinded),
        # The downloads follow the page's pilot choice (the other filters they ignore).
        "export_query": urlencode(
            {
                k: v
                for k, v in {
                    "blinded": "1" if form.is_blinded else None,
                    "pilot": "include" if filters.include_pilot else None,
                }.items()
                if v
            }
        ),
        "attention_check": study.has_check,
        "export_tables": list(exports.TABLES),
        "export_formats": list(exports.FORMATS),
        "raw_release_form": RawIdentifierReleaseForm(),
    }
    template = "analysis/dashboard.html#results" if request.htmx else "analysis/dashboard.html"
    return render(request, template, context)


@require_GET
@login_required_htmx
def dashboard_tasks(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """One page of the task list (the dashboard's pager swaps it in place)."""
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    form = _filter_form(request, study)
    arms = selectors.study_arm_views(study=study, blinded=form.is_blinded)
    context = {
        "study": study,
        "tasks": selectors.task_page(
            study=study,
            filters=form.filters(),
            arms=arms,
            page=form.page_number,
            per_page=TASKS_PER_PAGE,
        ),
        "query": _query(form),
        "blinded_query": _blinded_query(form.is_blinded),
    }
    return render(request, "analysis/dashboard.html#task-list", context)


@require_GET
@login_required_htmx
def transcript(request: AuthenticatedHttpRequest, slug: str, task_id: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    blinded = _blinded(request, study)
    view = selectors.transcript(study=study, task_id=task_id, blinded=blinded)
    if view is None:
        raise Http404("No such task")
    audit.record(
        study=study,
        actor=request.user,
        action="view",
        object_type="analysis.transcript",
        object_id=task_id,
        detail={"blinded": blinded},
    )
    context = {
        "study": study,
        "t": view,
        "blinded": blinded,
        "blinded_query": _blinded_query(blinded),
        "facts": transcript_facts(
            key_facts=view.scenario.key_facts,
            messages=[(turn.sequence, turn.role, turn.text) for turn in view.turns],
        ),
        **score_corrections_context(request.user, study, view.answer),
    }
    return render(request, "analysis/transcript.html", context)


def _wants_raw_identifiers(request: AuthenticatedHttpRequest) -> bool:
    return request.GET.get("identifiers") == "raw"


@require_GET
@login_required_htmx
def export_table(request: AuthenticatedHttpRequest, slug: str, table: str, fmt: str):
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    if table not in exports.TABLES or fmt not in exports.FORMATS:
        raise Http404("No such export")
    blinded = _blinded(request, study)
    raw = _wants_raw_identifiers(request)
    # The pilot's participants only when asked for: the main analysis leaves them out.
    include_pilot = request.GET.get("pilot") == "include"
    if raw:
        try:
            identifiers.raw_export_authorise(
                study=study, user=request.user, blinded=blinded, what=f"{table}.{fmt}"
            )
        except identifiers.RawIdentifiersRefused as refused:
            return HttpResponseForbidden(str(refused))
    audit.record(
        study=study,
        actor=request.user,
        action="export",
        object_type="analysis.export",
        object_id=f"{table}.{fmt}",
        detail={"blinded": blinded, "raw_identifiers": raw, "include_pilot": include_pilot},
    )
    parts = exports.WRITERS[fmt](
        exports.TABLES[table],
        study=study,
        arms=exports.arm_names_for(study=study),
        blinded=blinded,
        raw_identifiers=raw,
        include_pilot=include_pilot,
    )
    suffix = ("-blinded" if blinded else "-raw-ids" if raw else "") + (
        "-with-pilot" if include_pilot else ""
    )
    return streaming_attachment(
        request,
        parts,
        content_type=exports.FORMATS[fmt],
        filename=f"{study.slug}-{table}{suffix}.{fmt}",
    )


@require_GET
@login_required_htmx
def export_dictionary(request: AuthenticatedHttpRequest, slug: str, fmt: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    blinded = _blinded(request, study)
    raw = _wants_raw_identifiers(request)
    if raw and blinded:
        return HttpResponseForbidden("Raw identifiers are never exported blinded.")
    # The dictionary of a raw export holds no identifier: it only names the extra columns.
    dictionary = exports.data_dictionary(study=study, blinded=blinded, raw_identifiers=raw)
    if fmt == "json":
        response = JsonResponse(dictionary, json_dumps_params={"indent": 2})
    elif fmt == "csv":
        response = HttpResponse(exports.data_dictionary_csv(dictionary), content_type="text/csv")
    else:
        raise Http404("No such format")
    audit.record(
        study=study,
        actor=request.user,
        action="export",
        object_type="analysis.export",
        object_id=f"data_dictionary.{fmt}",
        detail={"blinded": blinded, "raw_identifiers": raw},
    )
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-data_dictionary.{fmt}"'
    return response


@require_GET
@login_required_htmx
def blinding_guard(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The blinding-guard section: how often models said their arm's blinding terms."""
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_RESULTS)
    form = _filter_form(request, study)
    table = blinding_guard_table(study=study, blinded=form.is_blinded)
    return render(request, "analysis/_blinding_guard.html", {"study": study, "guard": table})
