from __future__ import annotations

from django.urls import path

from studyapp.studies import views_endpoints

app_name = "endpoints"
urlpatterns = [
    path("", views_endpoints.endpoint_list, name="list"),
    path("new/", views_endpoints.endpoint_new, name="new"),
    path("<int:endpoint_id>/", views_endpoints.endpoint_edit, name="edit"),
    path("<int:endpoint_id>/test/", views_endpoints.endpoint_test, name="test"),
    path("<int:endpoint_id>/delete/", views_endpoints.endpoint_delete_confirm, name="delete"),
]
