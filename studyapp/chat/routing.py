from __future__ import annotations

from django.urls import path

from studyapp.chat.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/p/<str:token>/tasks/<int:position>/chat/", ChatConsumer.as_asgi()),
]
