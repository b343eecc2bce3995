from __future__ import annotations

from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import make_member, make_study, make_user


def test_the_login_page_uses_the_sites_layout(client):
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "css/app.css" in html
    assert "Investigator sign in" in html
    assert 'name="login"' in html and 'name="password"' in html
    assert reverse("account_signup") not in html  # no sign-up link: sign-up is closed


def test_signing_in_leads_to_the_study_list(client, db):
    make_user("alice", password="a-long-test-password")
    response = client.post(
        reverse("account_login"), {"login": "alice", "password": "a-long-test-password"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("analysis:study_list")


def test_a_user_who_only_rates_lands_on_their_rating_queues(client, db):
    from studyapp.ratings.services.raters import rater_add, rater_update

    root = make_user("root", superuser=True)
    rater = make_user("rita", password="a-long-test-password")
    role = rater_add(study=make_study("alpha"), user=rater, added_by=root)
    credentials = {"login": "rita", "password": "a-long-test-password"}
    response = client.post(reverse("account_login"), credentials)
    assert response["Location"] == reverse("ratings:home")
    # A rater who was asked to go somewhere goes there.
    client.logout()
    response = client.post(reverse("account_login") + "?next=/ratings/alpha/", credentials)
    assert response["Location"] == "/ratings/alpha/"
    # No longer a rater: the usual landing page.
    client.logout()
    rater_update(rater=role, can_rate=True, can_adjudicate=False, is_active=False)
    response = client.post(reverse("account_login"), credentials)
    assert response["Location"] == reverse("analysis:study_list")


def test_an_investigator_who_also_rates_lands_on_the_study_list(client, db):
    from studyapp.ratings.services.raters import rater_add

    root = make_user("root", superuser=True)
    alice = make_user("alice", password="a-long-test-password")
    make_member(make_study("alpha"), alice)
    rater_add(study=make_study("beta"), user=alice, added_by=root)
    response = client.post(
        reverse("account_login"), {"login": "alice", "password": "a-long-test-password"}
    )
    assert response["Location"] == reverse("analysis:study_list")


def test_a_wrong_password_is_refused_on_the_same_page(client, db):
    make_user("alice", password="a-long-test-password")
    response = client.post(reverse("account_login"), {"login": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "notice-error" in response.content.decode()


def test_signing_in_returns_to_the_page_asked_for(client, db):
    make_user("alice", password="a-long-test-password")
    response = client.post(
        reverse("account_login") + "?next=/studies/alpha/",
        {"login": "alice", "password": "a-long-test-password", "next": "/studies/alpha/"},
    )
    assert response["Location"] == "/studies/alpha/"


def test_sign_up_is_closed_and_says_who_creates_accounts(client, db):
    response = client.get(reverse("account_signup"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "No public sign-up" in html
    assert "css/app.css" in html
    response = client.post(
        reverse("account_signup"),
        {"username": "mallory", "password1": "x-long-pass-123", "password2": "x-long-pass-123"},
    )
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_sign_out_asks_then_signs_out(client, db):
    client.force_login(make_user("alice"))
    page = client.get(reverse("account_logout"))
    assert page.status_code == 200
    assert "Do you want to sign out" in page.content.decode()
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert client.get(reverse("analysis:study_list")).status_code == 302


def test_investigator_pages_show_a_sign_out_button(client, db):
    client.force_login(make_user("alice"))
    html = client.get(reverse("analysis:study_list")).content.decode()
    assert f'action="{reverse("account_logout")}"' in html
