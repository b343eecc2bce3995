"""The investigators' Prolific page and Prolific's webhook (participation.prolific_views);
included at the root, after the analysis pages."""

from __future__ import annotations

from django.urls import path

from studyapp.participation import prolific_views

app_name = "prolific"
urlpatterns = [
    path("studies/<slug:slug>/prolific/", prolific_views.prolific_page, name="page"),
    path("prolific/webhook/", prolific_views.prolific_webhook, name="webhook"),
]
