"""The cast: alice investigates the study, bob does not; the scored study (with chats)
for the transcript and export pages."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.analysis.scored import scored  # noqa: F401
from tests.conftest import require
from tests.factories import make_member, make_study, make_user


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def study(alice):
    study = make_study("audited", title="Audited study")
    make_member(study, alice)
    return study


def needs_postgresql() -> None:
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
