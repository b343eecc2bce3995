from __future__ import annotations

from django.urls import path

from studyapp.questionnaires import views

app_name = "questionnaires"
urlpatterns = [
    path("<slug:slug>/questionnaires/", views.questionnaire_list, name="list"),
    path("<slug:slug>/questionnaires/<int:pk>/", views.questionnaire_edit, name="edit"),
    path("<slug:slug>/questionnaires/<int:pk>/delete", views.questionnaire_delete, name="delete"),
    path("<slug:slug>/questionnaires/<int:pk>/items/new", views.item_add, name="item_add"),
    path(
        "<slug:slug>/questionnaires/<int:pk>/items/<int:item_pk>/",
        views.item_edit,
        name="item_edit",
    ),
    path(
        "<slug:slug>/questionnaires/<int:pk>/items/<int:item_pk>/move",
        views.item_move,
        name="item_move",
    ),
    path(
        "<slug:slug>/questionnaires/<int:pk>/items/<int:item_pk>/delete",
        views.item_delete,
        name="item_delete",
    ),
    path(
        "<slug:slug>/questionnaires/<int:pk>/translations/<str:language>/",
        views.translation_edit,
        name="translation",
    ),
    path(
        "<slug:slug>/questionnaires/<int:pk>/translations/<str:language>/delete",
        views.translation_delete,
        name="translation_delete",
    ),
]
