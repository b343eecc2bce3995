"""The endpoints pages (/endpoints/): investigators make, see and change model endpoints and
test a connection against the scripted model server; keys are named, never shown."""

from __future__ import annotations

import os
import socket
import time

import pytest
from django.test import Client
from django.urls import reverse

from studyapp.studies.models import ModelEndpoint
from tests.factories import make_endpoint, make_llm_arm, make_member, make_study, make_user

pytestmark = pytest.mark.django_db

KEY_VAR = "STUDYAPP_LLM_KEY_PAGES_TEST"
KEY_VALUE = "sk-secret-value-never-shown-0123456789"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def valid_form(**changes) -> dict:
    data = {
        "name": "lab-vllm",
        "base_url": "http://gpu-node:8000/v1",
        "model": "llama-3.1-8b",
        "api_key_env": "",
        "timeout_s": "30",
        "max_concurrent_streams": "64",
        "evaluation_concurrency": "8",
        "price_prompt_per_million": "",
        "price_completion_per_million": "",
    }
    data.update(changes)
    return data


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_investigator_creates_an_endpoint_they_own():
    alice = make_user("alice")
    response = client_for(alice).post(reverse("endpoints:new"), valid_form())
    endpoint = ModelEndpoint.objects.get(name="lab-vllm")
    assert response.status_code == 302
    assert response["Location"] == reverse("endpoints:edit", args=[endpoint.pk])
    assert endpoint.owner == alice and endpoint.model == "llama-3.1-8b"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_url", "ftp://gpu-node/v1", "must start with http:// or https://"),
        ("timeout_s", "0.5", "between 1 and 600"),
        ("timeout_s", "601", "between 1 and 600"),
        ("api_key_env", "sk-abc123", "capital letters, digits and underscores"),
        ("api_key_env", "DJANGO_SECRET_KEY", "Only variables whose names start with"),
        ("max_concurrent_streams", "0", "between 1 and 10000"),
    ],
)
def test_the_form_says_what_is_wrong_beside_the_field(field, value, message):
    response = client_for(make_user("alice")).post(
        reverse("endpoints:new"), valid_form(**{field: value})
    )
    assert response.status_code == 400
    html = response.content.decode()
    beside = html[html.index(f'id="field-{field}"') :]
    beside = beside[: beside.index("</p>")]
    assert message in beside
    assert not ModelEndpoint.objects.exists()


def test_the_list_shows_own_and_used_endpoints_but_not_others():
    alice, bob = make_user("alice"), make_user("bob")
    own = make_endpoint(name="alice-own", owner=alice)
    study = make_study("shared")
    make_member(study, alice, "collaborator")
    used = make_endpoint(name="used-by-study", owner=bob)
    make_llm_arm(study, used)
    make_endpoint(name="bobs-private", owner=bob)
    html = client_for(alice).get(reverse("endpoints:list")).content.decode()
    assert 'data-endpoint="alice-own"' in html and 'data-endpoint="used-by-study"' in html
    assert "bobs-private" not in html
    assert "Study shared" in html  # the studies using it
    assert own.base_url in html


def test_another_investigators_endpoint_is_404():
    alice, bob = make_user("alice"), make_user("bob")
    theirs = make_endpoint(name="bobs-private", owner=bob)
    client = client_for(alice)
    assert client.get(reverse("endpoints:edit", args=[theirs.pk])).status_code == 404
    assert (
        client.post(reverse("endpoints:edit", args=[theirs.pk]), valid_form()).status_code == 404
    )
    assert client.post(reverse("endpoints:test", args=[theirs.pk])).status_code == 404


def test_an_endpoint_a_study_uses_is_seen_but_changed_only_by_its_owner():
    alice, bob = make_user("alice"), make_user("bob")
    study = make_study("shared")
    make_member(study, alice, "owner")
    endpoint = make_endpoint(name="bobs", owner=bob)
    make_llm_arm(study, endpoint)
    client = client_for(alice)
    page = client.get(reverse("endpoints:edit", args=[endpoint.pk]))
    assert page.status_code == 200 and 'id="endpoint-form"' not in page.content.decode()
    refused = client.post(
        reverse("endpoints:edit", args=[endpoint.pk]), valid_form(name="hijacked")
    )
    assert refused.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.name == "bobs"
    # Its owner and superusers may.
    saved = client_for(bob).post(
        reverse("endpoints:edit", args=[endpoint.pk]), valid_form(name="bobs-renamed")
    )
    assert saved.status_code == 200 and 'id="saved"' in saved.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.name == "bobs-renamed"


def test_the_key_is_named_and_said_to_be_set_never_shown(monkeypatch):
    alice = make_user("alice")
    endpoint = make_endpoint(name="keyed", owner=alice, api_key_env=KEY_VAR)
    client = client_for(alice)
    url = reverse("endpoints:edit", args=[endpoint.pk])
    monkeypatch.delenv(KEY_VAR, raising=False)
    assert "<strong>not set</strong> in the server" in client.get(url).content.decode()
    monkeypatch.setenv(KEY_VAR, KEY_VALUE)
    pages = [
        client.get(url),
        client.get(reverse("endpoints:list")),
        client.post(reverse("endpoints:test", args=[endpoint.pk])),
    ]
    assert "set in the server's environment" in pages[0].content.decode()
    assert KEY_VAR in pages[0].content.decode()
    for page in pages:
        assert KEY_VALUE not in page.content.decode()
    assert os.environ[KEY_VAR] == KEY_VALUE


def test_test_connection_shows_the_first_token_time_first_words_and_models(scripted):
    alice = make_user("alice")
    endpoint = make_endpoint(scripted.base_url, name="scripted", owner=alice)
    response = client_for(alice).post(
        reverse("endpoints:test", args=[endpoint.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="test-result"')  # the fragment only
    assert 'id="ttft"' in html and " ms</strong>" in html
    words = html[html.index('id="first-words">') + len('id="first-words">') :]
    words = words[: words.index("</q>")]
    assert 0 < len(words) <= 90
    assert f"lists <strong>{endpoint.model}</strong> among its models" in html
    assert f"<li><code>{scripted.model}</code></li>" in html


def test_test_connection_says_when_the_model_is_not_listed(scripted):
    alice = make_user("alice")
    endpoint = make_endpoint(scripted.base_url, name="other", owner=alice, model="not-served")
    html = (
        client_for(alice)
        .post(reverse("endpoints:test", args=[endpoint.pk]), HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert "does <strong>not</strong> list <strong>not-served</strong>" in html


def test_a_server_answering_500_shows_the_exact_error(scripted):
    scripted.configure(fail_status=500)
    alice = make_user("alice")
    endpoint = make_endpoint(scripted.base_url, name="failing", owner=alice)
    html = (
        client_for(alice)
        .post(reverse("endpoints:test", args=[endpoint.pk]), HTTP_HX_REQUEST="true")
        .content.decode()
    )
    # The server's own message, as its JSON error body says it.
    assert '<code id="reply-error">server_error (HTTP 500): Injected failure (500).' in html


def test_a_closed_port_is_a_connection_error_at_once():
    alice = make_user("alice")
    endpoint = make_endpoint(
        f"http://127.0.0.1:{closed_port()}/v1", name="dead", owner=alice, timeout_s=5.0
    )
    started = time.monotonic()
    html = (
        client_for(alice)
        .post(reverse("endpoints:test", args=[endpoint.pk]), HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert time.monotonic() - started < 5.0
    assert '<code id="reply-error">connection: ' in html
    assert '<code id="models-error">connection: ' in html


def test_the_first_words_are_escaped(scripted, monkeypatch):
    from studyapp.chat.llm import probe
    from studyapp.studies import views_endpoints

    async def fake(config):
        reply = probe.ProbeResult(True, "answered", 12.0, "stop", 20, "<script>x</script>")
        return reply, probe.ModelsResult(True, "", ("<b>m</b>",), False)

    monkeypatch.setattr(views_endpoints, "connection_test", fake)
    alice = make_user("alice")
    endpoint = make_endpoint(scripted.base_url, name="x", owner=alice)
    html = (
        client_for(alice)
        .post(reverse("endpoints:test", args=[endpoint.pk]), HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<b>m</b>" not in html


def test_the_study_list_and_the_navigation_link_to_the_endpoints():
    html = client_for(make_user("alice")).get(reverse("analysis:study_list")).content.decode()
    assert html.count(f'href="{reverse("endpoints:list")}"') >= 2


def test_anonymous_users_are_sent_to_sign_in():
    endpoint = make_endpoint(name="any")
    for url in (
        reverse("endpoints:list"),
        reverse("endpoints:new"),
        reverse("endpoints:edit", args=[endpoint.pk]),
    ):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    response = Client().post(reverse("endpoints:test", args=[endpoint.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_empty_post_shows_which_fields_are_required():
    response = client_for(make_user("alice")).post(reverse("endpoints:new"), {})
    assert response.status_code == 400
    html = response.content.decode()
    field = html[html.index('id="field-name"') :]
    assert "This field is required." in field[: field.index("</p>")]


def test_the_list_costs_the_same_queries_for_one_endpoint_or_many(django_assert_num_queries):
    alice = make_user("alice")
    study = make_study("shared")
    make_member(study, alice, "owner")
    for n in range(5):
        make_llm_arm(study, make_endpoint(name=f"e{n}", owner=alice), key=f"arm{n}")
    client = client_for(alice)
    client.get(reverse("endpoints:list"))  # the session, warmed
    with django_assert_num_queries(5):  # session, user, endpoints, studies, health
        html = client.get(reverse("endpoints:list")).content.decode()
    assert html.count('data-endpoint="e') == 5
