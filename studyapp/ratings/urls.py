from __future__ import annotations

from django.urls import path

from studyapp.ratings import views, views_investigator

app_name = "ratings"
urlpatterns = [
    # Raters and adjudicators.
    path("ratings/", views.home, name="home"),
    path("ratings/<slug:slug>/", views.queue, name="queue"),
    path("ratings/<slug:slug>/items/<int:position>/", views.rate, name="rate"),
    path(
        "ratings/<slug:slug>/items/<int:position>/score/",
        views.score_correct,
        name="score_correct",
    ),
    path(
        "ratings/<slug:slug>/adjudication/",
        views.adjudication_queue,
        name="adjudication_queue",
    ),
    path(
        "ratings/<slug:slug>/adjudication/<int:item_id>/",
        views.adjudicate,
        name="adjudicate",
    ),
    # Investigators of the study.
    path("studies/<slug:slug>/ratings/", views_investigator.manage, name="manage"),
    path(
        "studies/<slug:slug>/ratings/raters/<int:rater_id>/",
        views_investigator.rater_change,
        name="rater_change",
    ),
    path("studies/<slug:slug>/ratings/rounds/", views_investigator.round_new, name="round_new"),
    path("studies/<slug:slug>/ratings/summary/", views_investigator.summary, name="summary"),
    path(
        "studies/<slug:slug>/ratings/agreement/",
        views_investigator.agreement_details,
        name="agreement",
    ),
]
