"""Fixtures the studies tests share: two plain users (a test file makes them members of
its own study, as it needs)."""

from __future__ import annotations

import pytest

from tests.factories import make_user


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")
