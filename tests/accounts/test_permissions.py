from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.accounts.services import INVESTIGATORS_GROUP, user_make_investigator
from tests.factories import make_member, make_study, make_user


def test_it_returns_the_study_to_its_investigator(db):
    alice = make_user("alice")
    study = make_study("alpha")
    make_member(study, alice)
    assert study_get_for_user_or_404(alice, "alpha") == study


def test_it_answers_404_to_someone_else(db):
    make_member(make_study("alpha"), make_user("alice"))
    with pytest.raises(Http404):
        study_get_for_user_or_404(make_user("bob"), "alpha")


def test_it_answers_404_to_anonymous_users(db):
    make_study("alpha")
    with pytest.raises(Http404):
        study_get_for_user_or_404(AnonymousUser(), "alpha")


def test_it_answers_404_for_an_unknown_slug(db):
    with pytest.raises(Http404):
        study_get_for_user_or_404(make_user("root", superuser=True), "nope")


def test_a_superuser_gets_any_study(db):
    study = make_study("alpha")
    assert study_get_for_user_or_404(make_user("root", superuser=True), "alpha") == study


def test_making_an_investigator_gives_staff_and_view_only_participant_data(db):
    charlie = make_user("charlie")
    user_make_investigator(user=charlie)
    user_make_investigator(user=charlie)  # idempotent
    charlie.refresh_from_db()
    assert charlie.is_staff and not charlie.is_superuser
    assert list(charlie.groups.values_list("name", flat=True)) == [INVESTIGATORS_GROUP]
    assert charlie.has_perm("studies.change_scenario")
    assert charlie.has_perm("participation.view_answer")
    assert not charlie.has_perm("participation.change_answer")
    assert not charlie.has_perm("studies.delete_study")
