"""The Members page: owners grant, change and revoke roles; no one else reaches it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.studies.members import MembershipError, membership_revoke
from tests.factories import make_member, make_study, make_user


@pytest.fixture
def cast(db):
    study = make_study("alpha")
    alice, bob = make_user("alice"), make_user("bob")
    bob.email = "bob@example.org"
    bob.save()
    make_member(study, alice)
    return study, alice, bob


def test_an_owner_grants_a_role_by_e_mail_and_it_is_on_the_trail(client, cast):
    study, alice, bob = cast
    client.force_login(alice)
    url = reverse("studies:members", args=["alpha"])
    response = client.post(
        url, {"user": "BOB@example.org", "role": "analyst"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert study.memberships.get(user=bob).role == "analyst"
    entry = AuditEntry.objects.filter(study=study).order_by("seq").last()
    assert (entry.action, entry.actor_label, entry.after) == (
        "grant",
        "alice",
        {"member": "bob", "role": "analyst"},
    )
    client.force_login(bob)  # an analyst does not manage members
    assert client.get(url).status_code == 404


def test_an_unknown_user_is_refused_and_nothing_is_granted(client, cast):
    study, alice, _ = cast
    client.force_login(alice)
    url = reverse("studies:members", args=["alpha"])
    response = client.post(url, {"user": "nobody", "role": "auditor"})
    assert response.status_code == 400
    assert study.memberships.count() == 1


def test_an_owner_changes_and_revokes_a_role(client, cast):
    study, alice, bob = cast
    make_member(study, bob, "auditor")
    client.force_login(alice)
    url = reverse("studies:member_change", args=["alpha", bob.pk])
    client.post(url, {"role": "collaborator"})
    assert study.memberships.get(user=bob).role == "collaborator"
    client.post(url, {"role": ""})
    assert not study.memberships.filter(user=bob).exists()


def test_the_last_owner_cannot_leave(client, cast):
    study, alice, _ = cast
    with pytest.raises(MembershipError):
        membership_revoke(study=study, user=alice, revoked_by=alice)
    client.force_login(alice)
    response = client.post(
        reverse("studies:member_change", args=["alpha", alice.pk]), {"role": ""}
    )
    assert response.status_code == 400
    assert study.memberships.get(user=alice).role == "owner"
