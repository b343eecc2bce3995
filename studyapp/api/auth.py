"""How an API request is authenticated and limited: `Authorization: Bearer <secret>` of a
usable ApiToken (401 otherwise), the token's scopes (403 for one missing), and the
per-token rate limit (429 with Retry-After). Sessions are not accepted: a page's cookie
must not open the API to a cross-site request."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.api.limits import rate_limit
from studyapp.api.models import ApiToken, Scope
from studyapp.api.services import token_authenticate
from studyapp.studies.models import Study


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"Rate limited: retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class ScopeMissing(Exception):
    def __init__(self, scope: Scope) -> None:
        super().__init__(f"This token lacks the '{scope.value}' scope.")
        self.scope = scope


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = token_authenticate(token)
        if api_token is None:
            return None
        # Role checks (studies.roles) read request.user, exactly as the pages do.
        request.user = api_token.user
        wait = rate_limit(token_id=api_token.pk)
        if wait is not None:
            raise RateLimited(wait)
        return api_token


def require_scope(request: HttpRequest, scope: Scope) -> None:
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    if scope not in token.scopes:
        raise ScopeMissing(scope)


def token_study(request: HttpRequest, slug: str, perm: str, scope: Scope) -> Study:
    """The study of a route: the token's scope first (403), then the page's permission
    for the token's user (404 for a study they may not see, as on the pages)."""
    require_scope(request, scope)
    return study_get_for_user_or_404(request.user, slug, perm)
