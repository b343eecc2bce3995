"""Invitations by e-mail: an owner invites an address with a role, the invitee follows the
link, signs up (or in) and accepts; the link works once, for the invited address only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse
from django.utils import timezone

from studyapp.audit.models import AuditEntry
from studyapp.studies import invitations
from studyapp.studies.models import Invitation
from tests.factories import make_member, make_study, make_user

PASSWORD = "a-long-test-password-9"


@pytest.fixture
def cast(db):
    study = make_study("alpha", title="Alpha & <Omega>")
    alice = make_user("alice")
    make_member(study, alice)
    return study, alice


def invite(client, owner, email="carol@example.org", role="analyst", slug="alpha"):
    client.force_login(owner)
    response = client.post(
        reverse("studies:invite", args=[slug]),
        {"email": email, "role": role},
        HTTP_HX_REQUEST="true",
    )
    client.logout()
    return response


def link_from_outbox(index: int = -1) -> str:
    match = re.search(r"https?://\S+/invite/[\w-]+/", mail.outbox[index].body)
    assert match, mail.outbox[index].body
    return match.group(0)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def actions(study) -> list[str]:
    return list(
        AuditEntry.objects.filter(study=study).order_by("seq").values_list("action", flat=True)
    )


def test_an_invitee_without_an_account_signs_up_and_accepts(client, cast):
    study, alice = cast
    response = invite(client, alice)
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["carol@example.org"]
    assert "Alpha & <Omega>" in message.subject  # plain text: not HTML-escaped
    assert "alice" in message.body and "Analyst" in message.body
    url = link_from_outbox()
    token = url.rstrip("/").rsplit("/", 1)[1]
    # Only the token's hash is stored.
    invitation = Invitation.objects.get()
    assert (
        invitation.token_hash == invitations.token_hash(token)
        and token not in invitation.token_hash
    )

    # The link keeps the token in the session and leaves it out of the next address.
    response = client.get(path_of(url))
    assert response.status_code == 302 and token not in response["Location"]
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "carol@example.org" in html and 'id="invitation-signup"' in html
    assert token not in html

    signup = client.get(reverse("account_signup"))
    assert signup.status_code == 200 and "signup_closed" not in signup.templates[0].name
    response = client.post(
        reverse("account_signup"),
        {"username": "carol", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("invitations:accept")
    carol = get_user_model().objects.get(username="carol")
    assert carol.email == "carol@example.org"
    assert not study.memberships.filter(user=carol).exists()  # not until accepted

    response = client.post(reverse("invitations:accept"))
    assert response.status_code == 302
    assert response["Location"] == reverse("analysis:study_detail", args=["alpha"])
    assert study.memberships.get(user=carol).role == "analyst"
    invitation.refresh_from_db()
    assert invitation.accepted_by == carol and invitation.accepted_at is not None
    assert actions(study)[-3:] == ["invite", "grant", "invite_accept"]
    accepted = AuditEntry.objects.filter(study=study, action="invite_accept").get()
    assert accepted.actor_label == "carol"
    grant = AuditEntry.objects.filter(study=study, action="grant").last()
    assert grant.actor_label == "alice"  # the owner decided it
    for entry in AuditEntry.objects.filter(study=study, object_type="studies.invitation"):
        assert token not in str(entry.before) + str(entry.after) + str(entry.detail)
        assert invitation.token_hash not in str(entry.before) + str(entry.after)


def test_sign_up_stays_closed_without_an_open_invitation(client, cast):
    _study, alice = cast
    assert "signup_closed" in client.get(reverse("account_signup")).templates[0].name
    client.post(
        reverse("account_signup"),
        {"username": "mallory", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert not get_user_model().objects.filter(username="mallory").exists()
    # A revoked invitation's link opens nothing either.
    invite(client, alice)
    client.get(path_of(link_from_outbox()))
    invitations.invitation_revoke(invitation=Invitation.objects.get(), revoked_by=alice)
    client.post(
        reverse("account_signup"),
        {"username": "mallory", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_an_existing_user_signs_in_comes_back_and_accepts(client, cast):
    study, alice = cast
    bob = make_user("bob", password=PASSWORD)
    bob.email = "Bob@Example.org"
    bob.save()
    invite(client, alice, email="bob@example.org", role="auditor")
    client.get(path_of(link_from_outbox()))
    html = client.get(reverse("invitations:accept")).content.decode()
    assert 'id="invitation-signup"' not in html  # an account has the address: sign in
    login = re.search(r'href="([^"]*/accounts/login/[^"]*)"', html).group(1).replace("&amp;", "&")
    response = client.post(login, {"login": "bob", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("invitations:accept")
    assert 'id="invitation-accept"' in client.get(response["Location"]).content.decode()
    client.post(reverse("invitations:accept"))
    assert study.memberships.get(user=bob).role == "auditor"


def test_a_second_use_an_expired_a_revoked_and_a_replaced_link_do_nothing(client, cast):
    study, alice = cast
    bob = make_user("bob")
    bob.email = "bob@example.org"
    bob.save()

    def accept_as_bob(url):
        client.force_login(bob)
        client.get(path_of(url))
        response = client.post(reverse("invitations:accept"))
        client.logout()
        return response

    # Expired.
    invite(client, alice, email="bob@example.org")
    url = link_from_outbox()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = accept_as_bob(url)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert not study.memberships.filter(user=bob).exists()

    # Sent again: the old link is replaced, the new one works once.
    client.force_login(alice)
    invitation = Invitation.objects.get()
    client.post(reverse("studies:invitation_resend", args=["alpha", invitation.pk]))
    new_url = link_from_outbox()
    assert new_url != url
    assert "not valid" in accept_as_bob(url).content.decode()
    assert accept_as_bob(new_url).status_code == 302
    assert study.memberships.get(user=bob).role == "analyst"
    response = accept_as_bob(new_url)
    assert response.status_code == 400 and "already been accepted" in response.content.decode()

    # Revoked.
    carol = make_user("carol")
    carol.email = "carol@example.org"
    carol.save()
    invite(client, alice, email="carol@example.org")
    client.force_login(alice)
    invitation = Invitation.objects.get(email="carol@example.org")
    client.post(reverse("studies:invitation_revoke", args=["alpha", invitation.pk]))
    client.force_login(carol)
    client.get(path_of(link_from_outbox()))
    response = client.post(reverse("invitations:accept"))
    assert response.status_code == 400 and "withdrawn" in response.content.decode()
    assert not study.memberships.filter(user=carol).exists()
    assert actions(study).count("invite_revoke") == 1
    assert actions(study).count("invite_resend") == 1


def test_another_account_than_the_invited_address_cannot_accept(client, cast):
    study, alice = cast
    mallory = make_user("mallory")
    mallory.email = "mallory@example.org"
    mallory.save()
    invite(client, alice, email="carol@example.org")
    client.force_login(mallory)
    client.get(path_of(link_from_outbox()))
    html = client.get(reverse("invitations:accept")).content.decode()
    assert "another e-mail address" in html and 'id="invitation-accept"' not in html
    response = client.post(reverse("invitations:accept"))
    assert response.status_code == 400
    assert not study.memberships.filter(user=mallory).exists()
    assert Invitation.objects.get().accepted_at is None


def test_only_owners_invite_revoke_and_resend(client, cast):
    study, alice = cast
    invite(client, alice)
    invitation = Invitation.objects.get()
    for role in ("collaborator", "analyst", "auditor"):
        user = make_user(role)
        make_member(study, user, role)
        client.force_login(user)
        for name, args in (
            ("studies:invite", ["alpha"]),
            ("studies:invitation_resend", ["alpha", invitation.pk]),
            ("studies:invitation_revoke", ["alpha", invitation.pk]),
        ):
            response = client.post(
                reverse(name, args=args), {"email": "x@example.org", "role": "owner"}
            )
            assert response.status_code == 404, (role, name)
    assert Invitation.objects.count() == 1 and len(mail.outbox) == 1
    assert Invitation.objects.get().revoked_at is None
    # Another study's owner cannot reach this study's invitation by its id.
    make_study("beta")
    other = make_user("olga")
    make_member(study.__class__.objects.get(slug="beta"), other)
    client.force_login(other)
    url = reverse("studies:invitation_revoke", args=["beta", invitation.pk])
    assert client.post(url).status_code == 404


def test_pending_invitations_are_listed_escaped(client, cast):
    _study, alice = cast
    hostile = '"<script>alert(1)</script>"@example.org'
    response = invite(client, alice, email=hostile)
    assert response.status_code == 200, response.content.decode()
    client.force_login(alice)
    html = client.get(reverse("studies:members", args=["alpha"])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="invitations-table"' in html


def test_an_address_already_member_or_invited_is_refused(client, cast):
    _study, alice = cast
    alice.email = "alice@example.org"
    alice.save()
    response = invite(client, alice, email="ALICE@example.org")
    assert response.status_code == 400 and "already" in response.content.decode()
    invite(client, alice)
    response = invite(client, alice, email="Carol@Example.org")
    assert response.status_code == 400 and "open invitation" in response.content.decode()
    assert Invitation.objects.count() == 1


def test_invitations_per_owner_are_rate_limited(client, cast, settings, monkeypatch):
    settings.INVITATION_RATE_LIMIT = 2
    monkeypatch.setattr(invitations, "clock", lambda: 3600 * 277_000 + 60.0)  # mid-window
    _study, alice = cast
    assert invite(client, alice, email="a@example.org").status_code == 200
    assert invite(client, alice, email="b@example.org").status_code == 200
    response = invite(client, alice, email="c@example.org")
    assert response.status_code == 400 and "try again in" in response.content.decode()
    assert Invitation.objects.count() == 2 and len(mail.outbox) == 2


def test_a_study_requiring_mfa_sends_the_new_member_to_set_it_up(client, cast):
    study, alice = cast
    bob = make_user("bob")
    bob.email = "bob@example.org"
    bob.save()
    invite(client, alice, email="bob@example.org")
    study.require_mfa = True  # after inviting: alice has no second factor either
    study.save(update_fields=["require_mfa"])
    client.force_login(bob)
    client.get(path_of(link_from_outbox()))
    response = client.post(reverse("invitations:accept"), follow=False)
    assert response["Location"] == reverse("mfa_index")
    assert study.memberships.get(user=bob).role == "analyst"


def test_a_mail_server_that_fails_leaves_the_invitation_unsent(client, cast, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.studies.test_invitations.FailingBackend"}}
    _study, alice = cast
    response = invite(client, alice)
    assert response.status_code == 400
    assert "could not be sent" in response.content.decode()
    assert Invitation.objects.get().sent_at is None


class FailingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise OSError("connection refused")


def test_the_invitation_link_is_masked_in_logs():
    from studyapp.core.logging import redact

    assert (
        redact('"GET /invite/abcDEF_123-x/ HTTP/1.1" 302') == '"GET /invite/[token]/ HTTP/1.1" 302'
    )
    assert redact("/invitation/") == "/invitation/"


def test_the_e_mail_is_translated(cast):
    from django.utils import translation

    study, alice = cast
    with translation.override("de"):
        sent = invitations.invitation_create(
            study=study,
            email="dora@example.org",
            role="auditor",
            invited_by=alice,
            site_url="https://study.example.org/",
        )
    message = mail.outbox[-1]
    assert message.subject == "Einladung zur Studie „Alpha & <Omega>“"
    assert "alice lädt Sie zur Studie" in message.body
    assert "Der Link funktioniert einmal" in message.body
    assert sent.url in message.body and sent.url.startswith("https://study.example.org/invite/")
