"""A blinded analyst sees results only blinded, whatever the URL asks for."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import make_member, make_user
from tests.ratings.dataset import ARM_SECRETS, make_rated_study


@pytest.fixture
def blinded(db, client):
    owner = make_user("owner")
    rated = make_rated_study(
        investigator=owner,
        rater1=make_user("r1"),
        rater2=make_user("r2"),
        adjudicator=make_user("adj"),
    )
    carol = make_user("carol")
    make_member(rated.study, carol, "blinded_analyst")
    client.force_login(carol)
    return rated


def _text(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("analysis:dashboard", {}),
        ("analysis:dashboard_tasks", {}),
        ("analysis:blinding_guard", {}),
        ("analysis:information", {}),
        ("analysis:export_table", {"table": "tasks", "fmt": "csv"}),
        ("analysis:export_dictionary", {"fmt": "json"}),
    ],
)
def test_pages_and_exports_never_name_the_arms(client, blinded, name, extra):
    response = client.get(reverse(name, kwargs={"slug": "rated", **extra}))
    assert response.status_code == 200
    text = _text(response)
    for secret in ARM_SECRETS:
        assert secret not in text, (name, secret)


def test_an_export_is_blinded_and_says_so_in_its_name(client, blinded):
    response = client.get(reverse("analysis:export_table", args=["rated", "tasks", "csv"]))
    assert "-blinded.csv" in response["Content-Disposition"]


def test_a_transcript_is_shown_blinded(client, blinded):
    task = blinded.answers["A1"].task_id
    response = client.get(reverse("analysis:transcript", args=["rated", task]))
    assert response.status_code == 200
    assert not any(secret in response.content.decode() for secret in ARM_SECRETS)


def test_the_study_page_sends_them_to_the_blinded_dashboard(client, blinded):
    response = client.get(reverse("analysis:study_detail", args=["rated"]))
    assert response.status_code == 302
    assert response["Location"].endswith("/analysis/?blinded=1")


def test_raw_identifiers_and_interim_looks_are_not_theirs(client, blinded):
    raw = reverse("analysis:export_table", args=["rated", "tasks", "csv"]) + "?identifiers=raw"
    assert client.get(raw).status_code == 403
    assert client.get(reverse("analysis:raw_identifiers", args=["rated"])).status_code == 404
    reveal = reverse("analysis:reveal_inference", args=["rated"])
    assert client.post(reveal, {"reason": "I want to see it now"}).status_code == 404


def test_their_dashboard_offers_neither_the_unblinded_view_nor_an_interim_look(client, blinded):
    html = client.get(reverse("analysis:dashboard", args=["rated"])).content.decode()
    assert 'name="blinded" value="1" checked disabled' in html
    assert "inference-hidden" in html and "reveal-form" not in html
    client.force_login(blinded.study.memberships.get(role="owner").user)
    assert (
        "reveal-form" in client.get(reverse("analysis:dashboard", args=["rated"])).content.decode()
    )
