"""A study that requires two-factor authentication (Study.require_mfa): whoever sees its
participant-level data without a second factor is refused with a page that says how to
set one up (accounts.mfa, through accounts.permissions); the owner sets it on the
settings page, and the change is on the audit trail."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.http import Http404
from django.urls import reverse

from studyapp.accounts.mfa import MFARequired
from studyapp.accounts.permissions import study_get_for_rater_or_404, study_get_for_user_or_404
from studyapp.audit.models import AuditEntry
from studyapp.ratings.models import StudyRater
from studyapp.studies import roles
from studyapp.studies.models import Study
from studyapp.studies.roles import Role
from tests.factories import make_member, make_study, make_user


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def guarded(alice) -> Study:
    study = make_study("guarded", title="Guarded study", require_mfa=True)
    make_member(study, alice, Role.ANALYST)
    return study


@pytest.fixture
def open_study(alice) -> Study:
    study = make_study("open", title="Open study")
    make_member(study, alice, Role.ANALYST)
    return study


def with_totp(user):
    TOTP.activate(user, generate_totp_secret())
    RecoveryCodes.activate(user)
    return user


def test_a_member_without_mfa_is_refused_where_the_study_requires_it(alice, guarded):
    with pytest.raises(MFARequired):
        study_get_for_user_or_404(alice, "guarded", roles.VIEW_RESULTS)


def test_a_member_without_mfa_is_let_in_where_the_study_does_not_require_it(alice, open_study):
    assert study_get_for_user_or_404(alice, "open", roles.VIEW_RESULTS) == open_study


def test_a_member_with_an_authenticator_app_is_let_in(alice, guarded):
    with_totp(alice)
    assert study_get_for_user_or_404(alice, "guarded", roles.VIEW_RESULTS) == guarded


def test_a_member_with_a_security_key_is_let_in(alice, guarded):
    # What allauth stores once a key is verified (tests/e2e/test_webauthn_login.py adds a
    # real one); only that the user has one matters here.
    Authenticator.objects.create(
        user=alice, type=Authenticator.Type.WEBAUTHN, data={"name": "Desk key", "credential": {}}
    )
    assert study_get_for_user_or_404(alice, "guarded", roles.VIEW_RESULTS) == guarded


def test_recovery_codes_alone_are_no_second_factor(alice, guarded):
    RecoveryCodes.activate(alice)
    with pytest.raises(MFARequired):
        study_get_for_user_or_404(alice, "guarded", roles.VIEW_RESULTS)


@pytest.mark.parametrize("role", list(Role))
def test_every_role_that_sees_results_is_held_to_it(guarded, role):
    assert role in roles.roles_with(roles.VIEW_RESULTS)  # today: all of them
    user = make_user(f"member-{role}")
    make_member(guarded, user, role)
    with pytest.raises(MFARequired):
        study_get_for_user_or_404(user, "guarded", roles.VIEW_STUDY)


def test_superusers_are_held_to_it_too(guarded):
    root = make_user("root", superuser=True)
    with pytest.raises(MFARequired):
        study_get_for_user_or_404(root, "guarded", roles.VIEW_RESULTS)
    with_totp(root)
    assert study_get_for_user_or_404(root, "guarded", roles.VIEW_RESULTS) == guarded


def test_raters_are_held_to_it(guarded):
    rater = make_user("rater")
    StudyRater.objects.create(study=guarded, user=rater, code="R1")
    with pytest.raises(MFARequired):
        study_get_for_rater_or_404(rater, "guarded")
    with_totp(rater)
    assert study_get_for_rater_or_404(rater, "guarded") == guarded


def test_a_stranger_still_gets_404_not_the_requirement(guarded):
    with pytest.raises(Http404):
        study_get_for_user_or_404(make_user("bob"), "guarded", roles.VIEW_RESULTS)


def test_the_refusal_is_a_page_that_links_to_the_setup(client, alice, guarded):
    client.force_login(alice)
    response = client.get(reverse("analysis:dashboard", args=["guarded"]))
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="mfa-required"' in html and "Guarded study" in html
    assert f'href="{reverse("mfa_activate_totp")}"' in html
    assert f'href="{reverse("mfa_add_webauthn")}"' in html


def test_a_security_key_of_another_user_is_not_found(client, alice):
    bob = make_user("bob")
    key = Authenticator.objects.create(
        user=bob, type=Authenticator.Type.WEBAUTHN, data={"name": "Bob's key", "credential": {}}
    )
    erin = make_user("erin", password="a-password-for-erin")
    own = Authenticator.objects.create(
        user=erin, type=Authenticator.Type.WEBAUTHN, data={"name": "Erin's key", "credential": {}}
    )
    client.force_login(erin)
    # The password again, as allauth asks before a key is changed.
    client.post(reverse("account_reauthenticate"), {"password": "a-password-for-erin"})
    assert "Erin&#x27;s key" in client.get(reverse("mfa_edit_webauthn", args=[own.pk])).text
    assert "Erin&#x27;s key" in client.get(reverse("mfa_remove_webauthn", args=[own.pk])).text
    assert client.get(reverse("mfa_edit_webauthn", args=[key.pk])).status_code == 404
    assert client.post(reverse("mfa_remove_webauthn", args=[key.pk])).status_code == 404
    assert Authenticator.objects.filter(pk=key.pk).exists()


def test_signing_in_offers_a_security_key_only_to_who_has_one(client, db):
    with_totp(make_user("dave", password="a-password-for-dave"))
    client.post(reverse("account_login"), {"login": "dave", "password": "a-password-for-dave"})
    html = client.get(reverse("mfa_authenticate")).content.decode()
    assert 'id="mfa-authenticate"' in html
    assert "Use a security key" not in html and 'id="js_data"' not in html


def test_an_htmx_request_is_sent_to_the_setup_page(client, alice, guarded):
    client.force_login(alice)
    response = client.get(
        reverse("analysis:dashboard", args=["guarded"]), headers={"HX-Request": "true"}
    )
    assert response["HX-Redirect"] == reverse("mfa_index")


def test_the_same_member_opens_a_study_that_does_not_require_it(client, alice, open_study):
    client.force_login(alice)
    assert client.get(reverse("analysis:dashboard", args=["open"])).status_code == 200


# --- The setting ---------------------------------------------------------------------


def settings_data(study: Study, **overrides) -> dict:
    data = {
        "title": study.title,
        "public_title": study.public_title,
        "consent_text": study.consent_text,
        "instructions_text": study.instructions_text,
        "disposition_question": study.disposition_question,
        "conditions_question": study.conditions_question,
        "disposition_scale": study.disposition_scale_id,
        "languages": ", ".join(study.languages),
    }
    data.update(overrides)
    return data


@pytest.fixture
def owned(db):
    owner = make_user("owner")
    study = make_study("owned", status=Study.Status.DRAFT, title="Owned study")
    make_member(study, owner, Role.OWNER)
    return owner, study


def test_an_owner_with_mfa_requires_it_on_the_audit_trail(client, owned):
    owner, study = owned
    with_totp(owner)
    client.force_login(owner)
    url = reverse("studies:settings", args=["owned"])
    response = client.post(url, settings_data(study, require_mfa="on"))
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.require_mfa
    entry = AuditEntry.objects.filter(study_id=study.pk, action="change").last()
    assert entry.actor == owner and entry.after["require_mfa"] is True


def test_an_owner_without_mfa_is_told_to_set_it_up_first(client, owned):
    owner, study = owned
    client.force_login(owner)
    url = reverse("studies:settings", args=["owned"])
    response = client.post(url, settings_data(study, require_mfa="on"))
    assert response.status_code == 400
    assert 'id="id_require_mfa-error"' in response.content.decode()
    study.refresh_from_db()
    assert not study.require_mfa


def test_a_collaborator_cannot_change_it(client, owned):
    owner, study = owned
    study.require_mfa = True
    study.save()
    collaborator = with_totp(make_user("carol"))
    make_member(study, collaborator, Role.COLLABORATOR, granted_by=owner)
    client.force_login(collaborator)
    url = reverse("studies:settings", args=["owned"])
    page = client.get(url).content.decode()
    assert "Only the study&#x27;s owners change this." in page
    response = client.post(url, settings_data(study, title="Renamed"))  # unchecked box
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.title == "Renamed" and study.require_mfa


def test_the_admin_signs_in_through_allauth_so_its_password_form_skips_no_second_factor(
    client, db
):
    root = with_totp(make_user("root", superuser=True, password="a-long-root-password"))
    response = client.get(reverse("admin:login"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    # A password posted to the admin's own form does not sign anyone in.
    client.post(reverse("admin:login"), {"username": "root", "password": "a-long-root-password"})
    assert client.get(reverse("admin:index")).status_code == 302
    # allauth's login with the password alone stops at the second factor.
    client.post(reverse("account_login"), {"login": "root", "password": "a-long-root-password"})
    assert client.get(reverse("admin:index")).status_code == 302
    assert root.is_superuser
