from __future__ import annotations

app_name = "participation"
urlpatterns: list = []
