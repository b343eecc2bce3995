"""Security headers Django does not set itself.

Content-Security-Policy comes from Django (SECURE_CSP, django.middleware.csp); this adds
Permissions-Policy: the browser features no page of studyapp uses (camera, microphone,
geolocation, payment, USB, ...) are switched off for the page and anything it embeds, so
an injected script or frame cannot ask a participant for them.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin


def permissions_policy_header(policy: dict[str, list[str]]) -> str:
    """{"camera": [], "fullscreen": ["self"]} → 'camera=(), fullscreen=(self)'."""
    return ", ".join(f"{feature}=({' '.join(allow)})" for feature, allow in policy.items())


class PermissionsPolicyMiddleware(MiddlewareMixin):
    """Adds Permissions-Policy from settings.PERMISSIONS_POLICY (a view may set its own)."""

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        self.header = permissions_policy_header(settings.PERMISSIONS_POLICY)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if self.header and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = self.header
        return response
