from __future__ import annotations

from django.urls import path

from studyapp.chat import views

app_name = "chat"
urlpatterns = [
    path("p/<str:token>/tasks/<int:position>/finish-chat", views.finish_chat, name="finish"),
    path("p/<str:token>/technical-problem", views.technical_exit, name="technical_exit"),
]
