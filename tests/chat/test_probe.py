"""The admin's "Test connection": one short streamed reply, reported without its text."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from studyapp.chat.llm import EndpointConfig
from studyapp.chat.llm.probe import FIRST_WORDS_CHARS, models_probe, probe_endpoint
from tests.factories import make_endpoint, make_user


def config(base_url: str, model: str = "scripted-demo") -> EndpointConfig:
    return EndpointConfig(
        endpoint_id=1,
        base_url=base_url,
        model=model,
        api_key="EMPTY",
        timeout_s=5.0,
        max_concurrent_streams=4,
    )


async def test_a_working_endpoint_answers_with_its_first_token_time(scripted):
    result = await probe_endpoint(config(scripted.base_url))
    assert (
        result.ok and result.finish_reason == "length"
    )  # max_tokens 16: the demo reply is longer
    assert result.time_to_first_token_ms and result.characters > 0
    assert "first token after" in result.detail


async def test_a_working_endpoint_reports_the_first_words_of_its_reply(scripted):
    result = await probe_endpoint(config(scripted.base_url))
    assert result.first_words and len(result.first_words) <= FIRST_WORDS_CHARS + 1


def test_first_words_are_cut_at_a_bound_and_marked():
    from studyapp.chat.llm.probe import _first_words

    assert _first_words("  short\n reply ") == "short reply"
    long = _first_words("word " * 40)
    assert len(long) <= FIRST_WORDS_CHARS + 1 and long.endswith("…")


async def test_the_server_lists_its_models_and_says_whether_ours_is_one(scripted):
    listed = await models_probe(config(scripted.base_url))
    assert listed.ok and listed.listed and scripted.model in listed.models
    other = await models_probe(config(scripted.base_url, model="not-served"))
    assert other.ok and not other.listed and "but not not-served" in other.detail


async def test_listing_models_where_nobody_listens_is_a_connection_error():
    result = await models_probe(config("http://127.0.0.1:9/v1"))
    assert not result.ok and result.detail.startswith("connection")


async def test_a_failing_endpoint_says_what_the_chat_would(scripted):
    scripted.configure(fail_status=503)
    result = await probe_endpoint(config(scripted.base_url))
    assert not result.ok and result.detail.startswith("server_error (HTTP 503)")


async def test_a_stream_cut_short_is_not_a_working_endpoint(scripted):
    scripted.configure(fail_after_tokens=2)
    result = await probe_endpoint(config(scripted.base_url))
    assert not result.ok


async def test_nobody_listening_is_a_connection_error():
    result = await probe_endpoint(config("http://127.0.0.1:9/v1"))
    assert not result.ok and result.detail.startswith("connection")


@pytest.mark.django_db
def test_the_admin_action_reports_each_endpoint(scripted):
    admin = make_user("root", superuser=True)
    good = make_endpoint(scripted.base_url, name="good", model="scripted-demo")
    bad = make_endpoint("http://127.0.0.1:9/v1", name="bad")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/studies/modelendpoint/",
        {"action": "test_connection", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )
    texts = sorted(str(m) for m in get_messages(response.wsgi_request))
    assert texts[0].startswith("bad: connection")
    assert texts[1].startswith("good: answered: first token after")
