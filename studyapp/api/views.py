"""The page where users make and revoke their API tokens (plain forms)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from studyapp.api.forms import TokenCreateForm
from studyapp.api.models import ApiToken
from studyapp.api.services import token_create, token_revoke
from studyapp.core.http import AuthenticatedHttpRequest


@login_required
def tokens(request: AuthenticatedHttpRequest) -> HttpResponse:
    created = None
    if request.method == "POST":
        form = TokenCreateForm(request.POST)
        if form.is_valid():
            created = token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.cleaned_data["expires_at"],
            )
            form = TokenCreateForm()
    else:
        form = TokenCreateForm()
    context = {
        "form": form,
        "created": created,
        "tokens": ApiToken.objects.filter(user=request.user),
    }
    status = 400 if request.method == "POST" and created is None else 200
    response = render(request, "api/tokens.html", context, status=status)
    # The page may show a secret once: never keep it in a cache.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def token_revoke_view(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    # Another user's token answers 404, like one that does not exist.
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token_revoke(token=token)
    return redirect("api_tokens:list")
