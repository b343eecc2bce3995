"""The admin's "Test connection": one short streamed reply, reported without its text."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from studyapp.chat.llm import EndpointConfig
from studyapp.chat.llm.probe import probe_endpoint
from tests.factories import make_endpoint, make_user


def config(base_url: str) -> EndpointConfig:
    return EndpointConfig(
        endpoint_id=1,
        base_url=base_url,
        model="scripted-demo",
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
