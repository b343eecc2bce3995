from __future__ import annotations

from django.urls import reverse

from tests.factories import make_member, make_study, make_user

URL = reverse("analysis:study_list")


def test_it_lists_only_the_users_studies_with_counts(client, alice, bob, dataset):
    make_member(make_study("bobs", title="Bob's study"), bob)
    client.force_login(alice)
    response = client.get(URL)
    assert response.status_code == 200
    studies = list(response.context["studies"])
    assert [s.slug for s in studies] == ["alpha"]
    alpha = studies[0]
    # Opened the link 5, allocated 4 (one has no arm), finished 2 (participation.states).
    counts = (alpha.n_arms, alpha.n_opened, alpha.n_allocated, alpha.n_finished, alpha.n_answers)
    assert counts == (2, 5, 4, 2, 5)
    html = response.content.decode()
    assert "Alpha study" in html
    assert "Bob&#x27;s study" not in html
    assert reverse("analysis:study_detail", args=["alpha"]) in html


def test_it_says_so_when_the_user_has_no_studies(client, dataset):
    client.force_login(make_user("charlie"))
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "You have no studies yet." in html
    # They are told how to start one themselves, not sent to the admin.
    assert reverse("studies:study_new") in html.split('id="no-studies-next"')[1]
    assert "/admin/" not in html


def test_it_redirects_anonymous_visitors_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_home_page_leads_to_the_study_list(client, alice):
    client.force_login(alice)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == URL


def test_its_query_count_does_not_depend_on_the_number_of_studies(
    client, alice, django_assert_max_num_queries
):
    for i in range(6):
        make_member(make_study(f"s{i}"), alice)
    client.force_login(alice)
    client.get(URL)  # the first request after a login refreshes the session (accounts.sessions)
    with django_assert_max_num_queries(4):
        client.get(URL)
