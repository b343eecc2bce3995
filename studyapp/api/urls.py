from __future__ import annotations

from django.urls import path

from studyapp.api import views

app_name = "api_tokens"
urlpatterns = [
    path("", views.tokens, name="list"),
    path("<int:token_id>/revoke/", views.token_revoke_view, name="revoke"),
]
