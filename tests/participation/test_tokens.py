"""Participant links: signed, and refused when forged or altered."""

from __future__ import annotations

import pytest
from django.core.signing import Signer
from django.test import Client
from django.urls import reverse

from studyapp.participation.access import participant_get_by_token
from studyapp.participation.tokens import SALT, new_participant_token, token_is_authentic


def flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_a_new_token_is_random_and_signed():
    token = new_participant_token()
    assert token_is_authentic(token)
    assert token != new_participant_token()
    raw, signature = token.split(".")
    assert len(raw) == 43 and len(signature) == 43


@pytest.mark.parametrize("where", ["random part", "signature"])
def test_an_altered_link_is_refused_with_a_clear_page(consented, where):
    token = consented.token
    index = 5 if where == "random part" else len(token) - 5
    altered = flip(token, index)
    response = Client().get(reverse("participation:home", kwargs={"token": altered}))
    assert response.status_code == 404
    assert "participation/bad_link.html" in [t.name for t in response.templates]
    assert "This link does not work" in response.content.decode()


@pytest.mark.parametrize(
    "forged",
    [
        # A well-formed value signed with another salt, another key, or not at all.
        lambda raw: Signer(salt="another.salt", sep=".").sign(raw),
        lambda raw: Signer(key="another-secret-key-" * 3, salt=SALT, sep=".").sign(raw),
        lambda raw: raw,
        lambda raw: f"{raw}.",
        lambda raw: f"{raw}.x.y",
    ],
)
def test_tokens_not_signed_by_this_server_are_refused_before_any_lookup(
    consented, forged, django_assert_num_queries
):
    raw = consented.token.split(".")[0]
    value = forged(raw)
    assert not token_is_authentic(value)
    with django_assert_num_queries(0), pytest.raises(Exception, match="Unknown"):
        participant_get_by_token(value)


def test_an_authentic_token_nobody_holds_is_refused_too(db, client):
    token = new_participant_token()
    response = client.get(reverse("participation:home", kwargs={"token": token}))
    assert response.status_code == 404


def test_every_participant_link_on_the_page_carries_the_signed_token(consented):
    content = consented.home().content.decode()
    assert token_is_authentic(consented.token)
    assert f"/p/{consented.token}/tasks/1/sources" in content
    assert f"/p/{consented.token}/withdraw" in content
