from __future__ import annotations

from django.urls import path

from studyapp.audit import views

app_name = "audit"
urlpatterns = [
    path("<slug:slug>/audit/", views.audit_log, name="audit_log"),
    path("<slug:slug>/audit.csv", views.audit_log_csv, name="audit_log_csv"),
]
