"""Analysis choices of a study (Study.condition_labels): who may change them, and every
change recorded (who, when, from, to), append-only."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse

from studyapp.accounts.services import user_make_investigator
from studyapp.studies.models import AnalysisChoiceChange, AnalysisChoiceImmutableError, Study
from studyapp.studies.services import study_condition_labels_set
from tests.conftest import require
from tests.factories import make_member, make_study, make_user

REFERENCE = Study.ConditionLabels.REFERENCE
MATCHER = Study.ConditionLabels.MATCHER


@pytest.fixture
def alice(db):
    user = make_user("alice")
    user_make_investigator(user=user)
    return user


@pytest.fixture
def bob(db):
    user = make_user("bob")
    user_make_investigator(user=user)
    return user


@pytest.fixture
def alpha(alice):
    study = make_study("alpha", title="Alpha study")
    make_member(study, alice)
    return study


def change_url(study: Study) -> str:
    return reverse("admin:studies_study_change", args=[study.pk])


def form_data(client, study: Study, **changes) -> dict:
    """The study's admin form as the browser would post it back, with `changes`."""
    form = client.get(change_url(study)).context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        data[name] = "" if value is None else value
    return data | changes


def test_a_study_starts_with_the_matcher(alpha):
    assert alpha.condition_labels == MATCHER
    assert not alpha.analysis_choice_changes.exists()


def test_a_change_is_recorded_with_who_when_and_from_and_to(alpha, alice):
    change = study_condition_labels_set(study=alpha, condition_labels=REFERENCE, changed_by=alice)
    alpha.refresh_from_db()
    assert alpha.condition_labels == REFERENCE
    assert (change.choice, change.old_value, change.new_value, change.changed_by) == (
        "condition_labels",
        "matcher",
        "reference",
        alice,
    )
    assert change.changed_at is not None
    back = study_condition_labels_set(study=alpha, condition_labels=MATCHER, changed_by=alice)
    assert list(alpha.analysis_choice_changes.values_list("old_value", "new_value")) == [
        ("matcher", "reference"),
        ("reference", "matcher"),
    ]
    assert back.changed_at >= change.changed_at


def test_the_same_choice_again_records_nothing(alpha, alice):
    unchanged = study_condition_labels_set(study=alpha, condition_labels=MATCHER, changed_by=alice)
    assert unchanged is None
    assert not AnalysisChoiceChange.objects.exists()


def test_an_unknown_choice_is_refused(alpha, alice):
    with pytest.raises(ValueError, match="not a choice"):
        study_condition_labels_set(study=alpha, condition_labels="oracle", changed_by=alice)
    assert not AnalysisChoiceChange.objects.exists()


def test_an_investigator_changes_it_in_the_admin_and_the_change_is_recorded(client, alice, alpha):
    client.force_login(alice)
    response = client.post(change_url(alpha), form_data(client, alpha, condition_labels=REFERENCE))
    assert response.status_code == 302, response.context["adminform"].form.errors
    alpha.refresh_from_db()
    assert alpha.condition_labels == REFERENCE
    change = AnalysisChoiceChange.objects.get()
    assert (change.study, change.changed_by, change.old_value, change.new_value) == (
        alpha,
        alice,
        "matcher",
        "reference",
    )
    page = client.get(change_url(alpha)).content.decode()
    assert "condition_labels matcher → reference" in page


def test_saving_other_settings_records_nothing(client, alice, alpha):
    client.force_login(alice)
    response = client.post(change_url(alpha), form_data(client, alpha, title="Renamed"))
    assert response.status_code == 302
    assert not AnalysisChoiceChange.objects.exists()


def test_another_investigators_study_cannot_be_changed(client, bob, alpha):
    client.force_login(bob)
    assert client.get(change_url(alpha)).status_code == 302  # the admin's "not found" redirect
    alpha.refresh_from_db()
    assert alpha.condition_labels == MATCHER


def test_changes_are_append_only_in_the_model_and_in_postgresql(alpha, alice):
    change = study_condition_labels_set(study=alpha, condition_labels=REFERENCE, changed_by=alice)
    change.new_value = "matcher"
    with pytest.raises(AnalysisChoiceImmutableError):
        change.save()
    with pytest.raises(AnalysisChoiceImmutableError):
        change.delete()
    require(connection.vendor == "postgresql", "the trigger is PostgreSQL's")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AnalysisChoiceChange.objects.filter(pk=change.pk).update(new_value="matcher")
