"""The OpenAI-compatible client against the real scripted server over HTTP."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from studyapp.chat.llm import (
    EndpointConfig,
    LLMError,
    OpenAICompatibleClient,
    Purpose,
    StreamEvent,
)
from studyapp.chat.llm.openai_compatible import sampling_kwargs
from studyapp.devtools.scripted_server import demo_reply
from tests.factories import make_endpoint


def client_for(
    server, *, endpoint_id: int = 1, timeout_s: float = 5.0, streams: int = 8, purpose: str = ""
):
    return OpenAICompatibleClient(
        EndpointConfig(
            endpoint_id=endpoint_id,
            base_url=server.base_url,
            model="scripted-demo",
            api_key="EMPTY",
            timeout_s=timeout_s,
            max_concurrent_streams=streams,
            purpose=purpose,
        )
    )


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def collect(client, text: str, params: dict | None = None) -> list[StreamEvent]:
    async with aclosing(client.stream_chat(user(text), params)) as events:
        return [event async for event in events]


async def wait_for(predicate, limit_s: float = 3.0) -> None:
    """Poll state that the scripted server's thread updates."""
    async with asyncio.timeout(limit_s):
        while not predicate():  # noqa: ASYNC110 (another thread sets it: no Event to await)
            await asyncio.sleep(0.02)


async def test_it_streams_text_then_finish_reason_and_usage(scripted):
    events = await collect(client_for(scripted), "my ankle is swollen", {"max_tokens": 500})
    text = "".join(e.delta for e in events)
    assert text == demo_reply("my ankle is swollen", 1)
    assert [e.finish_reason for e in events if e.finish_reason] == ["stop"]
    [usage] = [e.usage for e in events if e.usage]
    assert usage.prompt_tokens == 4 and usage.completion_tokens == len(text.split())
    # One delta per token, in order, with nothing empty.
    assert all(e.delta for e in events if not (e.finish_reason or e.usage))
    assert scripted.requests()[-1]["max_tokens"] == 500


async def test_it_sends_the_sampling_parameters(scripted):
    events = await collect(client_for(scripted), "#long:30", {"max_tokens": 4, "temperature": 0})
    assert [e.finish_reason for e in events if e.finish_reason] == ["length"]
    assert len([e for e in events if e.delta]) == 4


@pytest.mark.parametrize(
    ("directive", "code", "status"),
    [
        ("#fail:500", "server_error", 500),
        ("#fail:503", "server_error", 503),
        ("#fail:429", "rate_limited", 429),
        ("#fail:400", "bad_request", 400),
        ("#cut:2", "connection", None),
    ],
)
async def test_it_maps_failures_to_one_error_type(scripted, directive, code, status):
    with pytest.raises(LLMError) as caught:
        await collect(client_for(scripted), f"hello {directive}")
    assert caught.value.code == code
    assert caught.value.status == status


async def test_an_error_status_keeps_the_servers_own_message(scripted):
    # The request is sent without the SDK: the server's JSON error message is still what
    # the stored error says (as the SDK's APIStatusError.message said it).
    with pytest.raises(LLMError) as caught:
        await collect(client_for(scripted), "hello #fail:503")
    assert caught.value.detail == "Injected failure (503)."
    assert caught.value.summary() == "server_error (HTTP 503): Injected failure (503)."


async def test_the_request_is_what_the_sdk_would_send(scripted):
    await collect(client_for(scripted), "hi", {"temperature": 0.2, "top_k": 5, "seed": None})
    request = scripted.requests()[-1]
    assert request["params"] == {
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "top_k": 5,  # unknown to the SDK: in the body as is
    }  # seed=None is left out
    assert request["model"] == scripted.model


async def test_a_slow_first_token_is_a_timeout(scripted):
    with pytest.raises(LLMError) as caught:
        await collect(client_for(scripted, timeout_s=0.2), "#ttft:1.0 anyone there?")
    assert caught.value.code == "timeout"


async def test_an_unreachable_server_is_a_connection_error():
    client = OpenAICompatibleClient(
        EndpointConfig(
            endpoint_id=99,
            base_url="http://127.0.0.1:9/v1",
            model="m",
            api_key="EMPTY",
            timeout_s=2,
            max_concurrent_streams=1,
        )
    )
    with pytest.raises(LLMError) as caught:
        await collect(client, "hi")
    assert caught.value.code == "connection"


async def test_an_unknown_model_is_a_bad_request(scripted):
    client = client_for(scripted)
    client.config = EndpointConfig(**{**client.config.__dict__, "model": "other"})
    with pytest.raises(LLMError) as caught:
        await collect(client, "hi")
    assert (caught.value.code, caught.value.status) == ("bad_request", 404)


async def test_stopping_early_closes_the_upstream_stream(scripted):
    scripted.configure(token_delay_s=0.05)
    async with aclosing(client_for(scripted).stream_chat(user("hello"))) as events:
        async for event in events:
            if event.delta:
                break
    await wait_for(lambda: scripted.requests()[-1]["aborted"])
    assert scripted.requests()[-1]["tokens_sent"] < 5


async def test_cancelling_the_consumer_closes_the_upstream_stream(scripted):
    scripted.configure(token_delay_s=0.05)
    first = asyncio.Event()

    async def consume():
        async with aclosing(client_for(scripted).stream_chat(user("hello"))) as events:
            async for event in events:
                if event.delta:
                    first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: scripted.requests()[-1]["aborted"])


async def test_streams_per_endpoint_are_bounded(scripted):
    scripted.configure(ttft_s=0.05)
    client = client_for(scripted, endpoint_id=501, streams=1)
    await asyncio.gather(collect(client, "#long:3 a"), collect(client, "#long:3 b"))
    first, second = sorted(scripted.requests(), key=lambda r: r["started_at"])
    assert second["started_at"] >= first["ended_at"]


async def test_a_saturated_endpoint_fails_fast_as_busy(scripted):
    scripted.configure(ttft_s=0.5)
    patient = client_for(scripted, endpoint_id=502, streams=1, timeout_s=5)
    hurried = client_for(scripted, endpoint_id=502, streams=1, timeout_s=0.1)
    first = asyncio.create_task(collect(patient, "#long:1 a"))
    await wait_for(lambda: len(scripted.requests()) == 1)
    with pytest.raises(LLMError) as caught:
        await collect(hurried, "#long:1 b")
    assert caught.value.code == "busy"
    assert "".join(e.delta for e in await first) == "[Scripted"
    assert len(scripted.requests()) == 1


async def test_it_completes_without_streaming(scripted):
    result = await client_for(scripted).complete(user("#long:3 hi"), {"max_tokens": 50})
    assert result.text == "[Scripted demo model"
    assert result.finish_reason == "stop"
    assert result.usage.completion_tokens == 3


@pytest.mark.parametrize("purpose", [Purpose.MCQ, Purpose.PATIENT, Purpose.GRADER])
async def test_it_says_what_its_requests_are_for_in_a_header(scripted, purpose):
    client = client_for(scripted, purpose=purpose)
    await collect(client, "hi")
    await client.complete(user("hi"))
    assert [r["purpose"] for r in scripted.requests()] == [purpose.value, purpose.value]


async def test_a_participants_chat_sends_no_purpose_header(scripted):
    client = client_for(scripted)
    await collect(client, "hi")
    await client.complete(user("hi"))
    assert [r["purpose"] for r in scripted.requests()] == [None, None]


@pytest.fixture
def endpoint(db, scripted):
    return make_endpoint(scripted.base_url, model="scripted-demo")


async def test_an_endpoints_config_carries_the_purpose_it_is_given(scripted, endpoint):
    config = EndpointConfig.from_endpoint(endpoint, purpose="patient")
    assert config.purpose == Purpose.PATIENT
    assert EndpointConfig.from_endpoint(endpoint).purpose == Purpose.CHAT
    await OpenAICompatibleClient(config).complete(user("hi"))
    assert scripted.requests()[-1]["purpose"] == "patient"


def test_an_unknown_purpose_is_refused():
    with pytest.raises(ValueError, match="poetry"):
        EndpointConfig(
            endpoint_id=1,
            base_url="http://127.0.0.1:9/v1",
            model="m",
            api_key="EMPTY",
            timeout_s=1,
            max_concurrent_streams=1,
            purpose="poetry",
        )


def test_sampling_parameters_unknown_to_the_sdk_go_in_the_request_body():
    kwargs = sampling_kwargs({"temperature": 0.8, "top_p": 0.9, "top_k": 40, "seed": None})
    assert kwargs == {"temperature": 0.8, "top_p": 0.9, "extra_body": {"top_k": 40}}


def test_an_error_summary_never_exceeds_the_column():
    error = LLMError("server_error", "x" * 500, status=500)
    assert len(error.summary()) == 200
    assert error.summary().startswith("server_error (HTTP 500): x")
    with pytest.raises(ValueError):
        LLMError("mystery")
