from __future__ import annotations

from django.urls import path

from studyapp.studies import views_design, views_members, views_status

app_name = "studies"
urlpatterns = [
    path("<slug:slug>/design/", views_design.design_download, name="design_download"),
    path("<slug:slug>/pause/", views_status.pause, name="pause"),
    path("<slug:slug>/resume/", views_status.resume, name="resume"),
    path("<slug:slug>/members/", views_members.members, name="members"),
    path(
        "<slug:slug>/members/<int:user_id>/",
        views_members.member_change,
        name="member_change",
    ),
    # Two segments, so no study's slug shadows it (or is shadowed by it).
    path("design-files/new/", views_design.design_upload, name="design_upload"),
]
