from __future__ import annotations

from django.urls import path

from studyapp.analysis import (
    views,
    views_corrections,
    views_dashboard,
    views_identifiers,
    views_information,
    views_monitor,
    views_plan,
    views_power,
)

app_name = "analysis"
urlpatterns = [
    path("", views.study_list, name="study_list"),
    path("<slug:slug>/", views.study_detail, name="study_detail"),
    path("<slug:slug>/figures/", views.study_figures, name="study_figures"),
    path("<slug:slug>/monitor/", views_monitor.monitor, name="monitor"),
    path("<slug:slug>/monitor/live/", views_monitor.monitor_live, name="monitor_live"),
    path("<slug:slug>/analysis/", views_dashboard.dashboard, name="dashboard"),
    path("<slug:slug>/analysis/tasks/", views_dashboard.dashboard_tasks, name="dashboard_tasks"),
    path(
        "<slug:slug>/analysis/blinding-guard/",
        views_dashboard.blinding_guard,
        name="blinding_guard",
    ),
    path("<slug:slug>/analysis/plan/", views_plan.plan, name="plan"),
    path(
        "<slug:slug>/analysis/reveal/",
        views_dashboard.reveal_inference,
        name="reveal_inference",
    ),
    path(
        "<slug:slug>/analysis/information/",
        views_information.information,
        name="information",
    ),
    path("<slug:slug>/analysis/power/", views_power.power, name="power"),
    path(
        "<slug:slug>/analysis/export/data_dictionary.<slug:fmt>",
        views_dashboard.export_dictionary,
        name="export_dictionary",
    ),
    path(
        "<slug:slug>/analysis/export/<slug:table>.<slug:fmt>",
        views_dashboard.export_table,
        name="export_table",
    ),
    path(
        "<slug:slug>/analysis/raw-identifiers/",
        views_identifiers.raw_identifiers,
        name="raw_identifiers",
    ),
    path("<slug:slug>/tasks/<int:task_id>/", views_dashboard.transcript, name="transcript"),
    path(
        "<slug:slug>/tasks/<int:task_id>/correct-score/",
        views_corrections.score_correct,
        name="score_correct",
    ),
]
