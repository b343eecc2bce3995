"""The rubric grader's results beside the raters' labels (under /studies/, included by
the project's urls: a route of the ratings app's own, apart from its rater pages)."""

from __future__ import annotations

from django.urls import path

from studyapp.ratings import views_grader

app_name = "grader"
urlpatterns = [
    path(
        "<slug:slug>/evaluations/<int:run_id>/rubric/",
        views_grader.rubric_results,
        name="results",
    ),
]
