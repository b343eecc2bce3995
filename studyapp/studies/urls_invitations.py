from __future__ import annotations

from django.urls import path

from studyapp.studies import views_invitations

app_name = "invitations"
urlpatterns = [
    # /invite/<token>/ (the e-mail's link; core.logging masks the token) and the page
    # without it, under another prefix.
    path("invite/<str:token>/", views_invitations.invitation_open, name="open"),
    path("invitation/", views_invitations.invitation_accept_view, name="accept"),
]
