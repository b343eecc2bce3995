"""The builder's disposition scale pages: the list, a new scale (from scratch or as a
copy of one) and a scale's editor. Writes are studies.scales', which decides who may
change a scale and when; any signed-in investigator lists and makes scales (a study's
settings page chooses among them), and a scale's edit page is its owner's alone (404
for anyone else, as a study's pages are to non-members)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from studyapp.accounts.decorators import login_required_htmx
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import scales
from studyapp.studies.forms_scales import (
    ScaleForm,
    levels_apply,
    levels_from_post,
    levels_initial,
    levels_values,
)
from studyapp.studies.models import DispositionScale
from studyapp.studies.services import disposition_scale_get_or_create_default


@require_GET
@login_required_htmx
def scale_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    disposition_scale_get_or_create_default()  # a fresh installation shows the default one
    rows = []
    scales_ = (
        DispositionScale.objects.select_related("owner")
        .prefetch_related("levels")
        .annotate(n_studies=Count("study"))
    )
    for scale in scales_:
        rows.append(
            {
                "scale": scale,
                "levels": sorted(scale.levels.all(), key=lambda lv: -lv.value),
                "mine": scale.owner_id == request.user.pk,
            }
        )
    rows.sort(key=lambda r: (not r["mine"], r["scale"].name.casefold()))
    return render(request, "studies/scales.html", {"rows": rows, "next": _next(request)})


def _next(request: AuthenticatedHttpRequest) -> str:
    """Where to go back to once saved (a study's settings page), if it is ours."""
    url = request.GET.get("next") or request.POST.get("next") or ""
    ok = url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure())
    return url if ok and url.startswith("/") else ""


def _page(
    request: AuthenticatedHttpRequest,
    *,
    form: ScaleForm,
    levels: list[dict],
    scale: DispositionScale | None,
    source: DispositionScale | None = None,
    level_errors: dict[int, dict[str, str]] | None = None,
    levels_error: str = "",
    locked: str | None = None,
    status: int = 200,
) -> HttpResponse:
    level_errors = level_errors or {}
    context = {
        "form": form,
        "scale": scale,
        "source": source,
        "locked": locked,
        "next": _next(request),
        "levels": [{**row, "errors": level_errors.get(i, {})} for i, row in enumerate(levels)],
        "levels_error": levels_error,
    }
    template = "studies/scale_edit.html"
    if request.htmx:
        template += "#scale-form"
        status = 200  # htmx swaps no 4xx by default: the refused form must show
    return render(request, template, context, status=status)


def _post(
    request: AuthenticatedHttpRequest,
    scale: DispositionScale | None,
    source: DispositionScale | None = None,
) -> HttpResponse:
    form = ScaleForm(request.POST)
    levels = levels_from_post(request.POST)
    action = request.POST.get("level_action", "")
    if action:  # a row button: the rows changed, nothing saved or judged
        form = ScaleForm(initial=request.POST.dict())
        return _page(
            request, form=form, levels=levels_apply(levels, action), scale=scale, source=source
        )
    values = levels_values(levels)
    shown = [{**v, "id": str(v["id"] or "")} for v in values]  # the codes made, as saved
    if not form.is_valid():
        return _page(request, form=form, levels=shown, scale=scale, source=source, status=400)
    data = form.cleaned_data
    try:
        if scale is None:
            saved = scales.scale_create(
                name=data["name"],
                description=data["description"],
                levels=values,
                owner=request.user,
            )
        else:
            saved = scales.scale_update(
                scale_id=scale.pk,
                name=data["name"],
                description=data["description"],
                levels=values,
                user=request.user,
            )
    except scales.LevelErrors as exc:
        return _page(
            request,
            form=form,
            levels=shown,
            scale=scale,
            source=source,
            level_errors=exc.rows,
            status=400,
        )
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
        levels_error = " ".join(errors.pop("levels", []))
        for field, messages_ in errors.items():
            form.add_error(field if field in form.fields else None, messages_)
        return _page(
            request,
            form=form,
            levels=shown,
            scale=scale,
            source=source,
            levels_error=levels_error,
            status=400,
        )
    verb = "created" if scale is None else "saved"
    messages.success(request, f"Scale {saved.name} ({saved.slug}) {verb}.")
    url = _next(request) or reverse("studies:scales")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def scale_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new scale; `?from=<slug>` starts it as a copy of that scale (any scale)."""
    source = DispositionScale.objects.filter(slug=request.GET.get("from", "")).first()
    if request.method == "POST":
        return _post(request, None, source)
    initial = {}
    if source is not None:
        initial = {"name": f"{source.name} (copy)", "description": source.description}
    return _page(
        request,
        form=ScaleForm(initial=initial),
        levels=levels_initial(source, with_ids=False),
        scale=None,
        source=source,
    )


@require_http_methods(["GET", "POST"])
@login_required_htmx
def scale_edit(request: AuthenticatedHttpRequest, scale_id: int) -> HttpResponse:
    scale = get_object_or_404(DispositionScale, pk=scale_id)
    if scale.owner_id != request.user.pk:
        raise Http404("not your scale")
    locked = scales.scale_editable_reason(scale, request.user)
    if request.method == "POST" and not locked:
        return _post(request, scale)
    if request.method == "POST":
        messages.error(request, locked)
    form = ScaleForm(initial={"name": scale.name, "description": scale.description})
    if locked:
        for field in form.fields.values():
            field.disabled = True
    return _page(
        request,
        form=form,
        levels=levels_initial(scale, with_ids=True),
        scale=scale,
        locked=locked,
    )
