"""The cast: alice investigates the rated study, bob another; dave and erin rate, frank
adjudicates; charlie has no role."""

from __future__ import annotations

import pytest

from tests.factories import make_user
from tests.ratings.dataset import RatedStudy, make_rated_study

PASSWORD = "password-for-tests"


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def charlie(db):
    return make_user("charlie")


@pytest.fixture
def dave(db):
    return make_user("dave")


@pytest.fixture
def erin(db):
    return make_user("erin")


@pytest.fixture
def frank(db):
    return make_user("frank")


@pytest.fixture
def rated(alice, dave, erin, frank) -> RatedStudy:
    return make_rated_study(investigator=alice, rater1=dave, rater2=erin, adjudicator=frank)
