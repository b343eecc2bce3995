"""The endpoints pages for investigators: list the model endpoints they may use, make new
ones (they own them), change and delete their own (an endpoint anything refers to is
refused), and "Test connection" (htmx swaps the result in).

Who sees what is accounts.permissions (endpoints_visible_to, endpoint_may_edit): an
endpoint the user may not see answers 404. No page shows or takes an API key: only the
name of the environment variable holding it, and whether that variable is set here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from studyapp.accounts.permissions import (
    endpoint_get_for_user_or_404,
    endpoint_may_edit,
    endpoints_visible_to,
)
from studyapp.chat.llm import EndpointConfig
from studyapp.chat.llm.probe import connection_test
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import roles
from studyapp.studies.design_files import ENDPOINT_FIELDS
from studyapp.studies.endpoints import (
    EndpointInUseError,
    endpoint_create,
    endpoint_delete,
    endpoint_key_state,
    endpoint_update,
    endpoint_uses,
)
from studyapp.studies.models import Arm, ModelEndpoint, Study

ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
TIMEOUT_RANGE_S = (1.0, 600.0)
STREAMS_RANGE = (1, 10_000)


class EndpointForm(forms.ModelForm):
    class Meta:
        model = ModelEndpoint
        fields = list(ENDPOINT_FIELDS)  # what a design file carries of an endpoint
        labels = {
            "base_url": "Base URL",
            "api_key_env": "API key variable",
            "timeout_s": "Timeout (seconds)",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        low, high = TIMEOUT_RANGE_S
        self.fields["timeout_s"].min_value = low
        self.fields["timeout_s"].max_value = high
        self.fields[
            "timeout_s"
        ].help_text = f"Between {low:.0f} and {high:.0f} s: the longest a reply may take."
        low, high = STREAMS_RANGE
        self.fields[
            "max_concurrent_streams"
        ].help_text = (
            f"Open chat streams per server process (participants' chats), {low} to {high}."
        )
        self.fields["api_key_env"].help_text = (
            "The name of the environment variable holding the key (never the key), e.g. "
            "STUDYAPP_LLM_KEY_VLLM; empty for a server without authentication."
        )

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"].strip()
        if urlsplit(url).scheme not in ("http", "https"):
            raise forms.ValidationError("The URL must start with http:// or https://.")
        return url.rstrip("/")

    def clean_timeout_s(self) -> float:
        value = self.cleaned_data["timeout_s"]
        low, high = TIMEOUT_RANGE_S
        if not low <= value <= high:
            raise forms.ValidationError(f"Give a timeout between {low:.0f} and {high:.0f} s.")
        return value

    def clean_max_concurrent_streams(self) -> int:
        value = self.cleaned_data["max_concurrent_streams"]
        low, high = STREAMS_RANGE
        if not low <= value <= high:
            raise forms.ValidationError(f"Give a number between {low} and {high}.")
        return value

    def clean_api_key_env(self) -> str:
        name = self.cleaned_data["api_key_env"].strip()
        if name and not ENV_NAME.fullmatch(name):
            raise forms.ValidationError(
                "An environment variable's name: capital letters, digits and underscores, "
                "starting with a letter (e.g. STUDYAPP_LLM_KEY_VLLM), not the key itself."
            )
        return name


def _studies_using(user, endpoints: list[ModelEndpoint]) -> dict[int, list[Study]]:
    """Per endpoint id, the studies the user may see whose arms use it. One query."""
    arms = (
        Arm.objects.filter(
            endpoint__in=[e.pk for e in endpoints],
            study__in=Study.objects.visible_to(user, roles.VIEW_STUDY),
        )
        .select_related("study")
        .order_by("study__title")
    )
    using: dict[int, list[Study]] = {}
    for arm in arms:
        studies = using.setdefault(arm.endpoint_id, [])
        if arm.study not in studies:
            studies.append(arm.study)
    return using


@require_http_methods(["GET"])
@login_required
def endpoint_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    endpoints = list(endpoints_visible_to(request.user).select_related("owner").order_by("name"))
    using = _studies_using(request.user, endpoints)
    rows = [
        {
            "endpoint": e,
            "studies": using.get(e.pk, []),
            "may_edit": endpoint_may_edit(request.user, e),
        }
        for e in endpoints
    ]
    return render(request, "studies/endpoints.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@login_required
def endpoint_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        endpoint = endpoint_create(owner=request.user, **form.cleaned_data)
        return redirect("endpoints:edit", endpoint_id=endpoint.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "studies/endpoint_form.html", {"form": form, "endpoint": None}, status=status
    )


@require_http_methods(["GET", "POST"])
@login_required
def endpoint_edit(request: AuthenticatedHttpRequest, endpoint_id: int) -> HttpResponse:
    """The endpoint's page: its settings (a form for its owner and superusers, read-only
    for the others who see it) and "Test connection"."""
    endpoint = endpoint_get_for_user_or_404(request.user, endpoint_id)
    may_edit = endpoint_may_edit(request.user, endpoint)
    if request.method == "POST" and not may_edit:
        raise PermissionDenied("Only the endpoint's owner may change it.")
    data = request.POST if request.method == "POST" else None
    form = EndpointForm(data, instance=endpoint) if may_edit else None
    saved = False
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changed = {f: form.cleaned_data[f] for f in form.changed_data}
            endpoint = endpoint_update(endpoint=endpoint, **changed)
            form = EndpointForm(instance=endpoint)
            saved = True
        else:
            status = 400
            endpoint.refresh_from_db()  # the form's instance took the refused values
    context = {
        "form": form,
        "endpoint": endpoint,
        "may_edit": may_edit,
        "saved": saved,
        "key_state": endpoint_key_state(endpoint),
        "studies": _studies_using(request.user, [endpoint]).get(endpoint.pk, []),
    }
    return render(request, "studies/endpoint_form.html", context, status=status)


@require_POST
@login_required
def endpoint_test(request: AuthenticatedHttpRequest, endpoint_id: int) -> HttpResponse:
    """One short streamed reply and the server's model list, both within the endpoint's
    timeout and concurrently; the result fragment (htmx) or the page around it."""
    endpoint = endpoint_get_for_user_or_404(request.user, endpoint_id)
    # The sync view runs the async probes on a loop of their own (as the admin's action).
    reply, models = async_to_sync(connection_test)(EndpointConfig.from_endpoint(endpoint))
    context = {"endpoint": endpoint, "reply": reply, "models": models, "tested": True}
    template = (
        "studies/endpoint_test.html#result" if request.htmx else "studies/endpoint_test.html"
    )
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@login_required
def endpoint_delete_confirm(request: AuthenticatedHttpRequest, endpoint_id: int) -> HttpResponse:
    """GET: what deleting the endpoint would mean (or why it cannot be); POST: delete it.
    Its owner and superusers only; refused while arms, conversations or evaluation runs
    refer to it (studies.endpoints.endpoint_delete)."""
    endpoint = endpoint_get_for_user_or_404(request.user, endpoint_id)
    if not endpoint_may_edit(request.user, endpoint):
        raise PermissionDenied("Only the endpoint's owner may delete it.")
    error = ""
    if request.method == "POST":
        try:
            endpoint_delete(endpoint_id=endpoint.pk)
        except EndpointInUseError as exc:
            error = str(exc)
        else:
            messages.success(request, f"The endpoint “{endpoint.name}” is deleted.")
            return redirect("endpoints:list")
    context = {"endpoint": endpoint, "uses": endpoint_uses(endpoint), "error": error}
    return render(request, "studies/endpoint_delete.html", context, status=409 if error else 200)
