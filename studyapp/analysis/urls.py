from __future__ import annotations

from django.urls import path

from studyapp.analysis import views

app_name = "analysis"
urlpatterns = [
    path("", views.study_list, name="study_list"),
    path("<slug:slug>/", views.study_detail, name="study_detail"),
    path("<slug:slug>/figures/", views.study_figures, name="study_figures"),
]
