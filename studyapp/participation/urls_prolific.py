"""The investigators' Prolific page, under /studies/ (participation.prolific_views)."""

from __future__ import annotations

from django.urls import path

from studyapp.participation import prolific_views

app_name = "prolific"
urlpatterns = [
    path("<slug:slug>/prolific/", prolific_views.prolific_page, name="page"),
]
