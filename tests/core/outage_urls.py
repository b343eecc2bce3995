"""URLs for tests/core/test_outage.py: views that fail as a database that is away does."""

from __future__ import annotations

import sqlite3

from django.db import OperationalError
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
]
