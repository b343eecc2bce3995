"""URLs for tests/core/test_outage.py: views that fail as a database that is away does."""

from __future__ import annotations

import sqlite3

from django.db import OperationalError
from django.http import HttpResponse
from django.urls import path


def database_away(request, token):
    raise OperationalError("couldn't get a connection after 10.00 sec")


def broken(request):
    raise ValueError("a bug, not an outage")


def no_such_table(request):
    # As Django raises it: its own OperationalError, caused by the driver's.
    try:
        raise sqlite3.OperationalError("no such table: studies_study")
    except sqlite3.OperationalError as exc:
        raise OperationalError(str(exc)) from exc


def session_save_fails(request):
    """The view works; the database fails afterwards, in a middleware on the way out."""
    request.session["touched"] = True

    def save_fails(must_create=False):
        raise OperationalError("server closed the connection unexpectedly")

    request.session.save = save_fails
    return HttpResponse("fine")


def locked(request):
    try:
        raise sqlite3.OperationalError("database is locked")
    except sqlite3.OperationalError as exc:
        raise OperationalError(str(exc)) from exc


urlpatterns = [
    path("p/<str:token>/", database_away),
    path("broken/", broken),
    path("no-such-table/", no_such_table),
    path("locked/", locked),
    path("session-save-fails/", session_save_fails),
]

handler500 = "studyapp.core.outage.server_error"
