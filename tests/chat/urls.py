"""A urlconf for the chat tests: the chat URLs plus a stand-in participant home page."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import include, path


def _home(request, token: str) -> HttpResponse:
    return HttpResponse("participant home")


participation_patterns = ([path("p/<str:token>/", _home, name="home")], "participation")

urlpatterns = [
    path("", include("studyapp.chat.urls")),
    path("", include(participation_patterns)),
]
