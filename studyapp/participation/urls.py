from __future__ import annotations

from django.urls import path

from studyapp.participation import views

app_name = "participation"
urlpatterns = [
    path("s/<slug:slug>/", views.entry, name="entry"),
    path("p/<str:token>/", views.home, name="home"),
    path("p/<str:token>/consent", views.consent, name="consent"),
    path("p/<str:token>/screening", views.screening, name="screening"),
    path("p/<str:token>/instructions", views.instructions, name="instructions"),
    path("p/<str:token>/check", views.check, name="check"),
    path("p/<str:token>/questionnaires/<int:pk>", views.questionnaire, name="questionnaire"),
    path("p/<str:token>/withdraw", views.withdraw, name="withdraw"),
    path("p/<str:token>/tasks/<int:position>/sources", views.sources, name="sources"),
    path("p/<str:token>/tasks/<int:position>/answer", views.answer, name="answer"),
]
