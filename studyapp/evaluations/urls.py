from __future__ import annotations

from django.urls import path

from studyapp.evaluations import views

app_name = "evaluations"
urlpatterns = [
    path("<slug:slug>/evaluations/", views.evaluations_page, name="page"),
    path("<slug:slug>/evaluations/runs/", views.runs_fragment, name="runs"),
    path("<slug:slug>/evaluations/start/", views.run_start, name="start"),
    path("<slug:slug>/evaluations/prompts/new/", views.prompt_edit, name="prompt_new"),
    path("<slug:slug>/evaluations/prompts/<slug:key>/", views.prompt_edit, name="prompt_edit"),
    path("<slug:slug>/evaluations/<int:run_id>/", views.run_detail, name="run_detail"),
    path("<slug:slug>/evaluations/<int:run_id>/cancel/", views.run_cancel, name="cancel"),
    path("<slug:slug>/evaluations/<int:run_id>/delete/", views.run_delete, name="delete"),
]
