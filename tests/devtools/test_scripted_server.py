"""The scripted demo model speaks the OpenAI chat-completions protocol as vLLM does."""

from __future__ import annotations

import asyncio
import itertools
import json

import aiohttp
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from studyapp.devtools.scripted_server import (
    ScriptedConfig,
    ScriptedServerThread,
    demo_reply,
    parse_directives,
    plan_reply,
    tokenize,
)


def sdk(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0, timeout=5)


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


async def raw_sse(server, body: dict) -> list[str]:
    """The `data:` payloads of a streamed response, as sent."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/chat/completions", json=body) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        text = await response.text()
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return [e.removeprefix("data: ") for e in events]


async def test_it_streams_role_content_finish_usage_and_done(scripted):
    client = sdk(scripted)
    stream = await client.chat.completions.create(
        model="scripted-demo",
        messages=user("I feel dizzy when I stand up"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    await client.close()

    first, *content, finish, usage = chunks
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    text = "".join(c.choices[0].delta.content for c in content)
    assert text == demo_reply("I feel dizzy when I stand up", 1)
    assert all(
        c.choices[0].delta.content == t for c, t in zip(content, tokenize(text), strict=True)
    )
    assert finish.choices[0].finish_reason == "stop" and not finish.choices[0].delta.content
    assert usage.choices == []
    assert usage.usage.completion_tokens == len(content)
    assert usage.usage.prompt_tokens == 2 + 7
    assert usage.usage.total_tokens == usage.usage.prompt_tokens + len(content)
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert {c.model for c in chunks} == {"scripted-demo"}


async def test_the_raw_stream_has_null_usage_before_the_usage_chunk_and_ends_with_done(scripted):
    body = {
        "model": "scripted-demo",
        "messages": user("hi"),
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 2,
    }
    payloads = await raw_sse(scripted, body)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 2
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "length",
    }
    assert isinstance(chunks[0]["created"], int)


async def test_without_include_usage_there_is_no_usage_key(scripted):
    payloads = await raw_sse(
        scripted, {"model": "scripted-demo", "messages": user("hi #long:2"), "stream": True}
    )
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all("usage" not in c for c in chunks)
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == [
        "",
        "[Scripted ",
        "demo",
        None,
    ]


async def test_it_answers_without_streaming(scripted):
    client = sdk(scripted)
    completion = await client.chat.completions.create(
        model="scripted-demo", messages=user("#long:4 hello"), max_tokens=3
    )
    await client.close()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "[Scripted demo model "
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 3


async def test_echo_mode_repeats_the_last_user_message_without_directives(scripted):
    scripted.configure(mode="echo")
    client = sdk(scripted)
    completion = await client.chat.completions.create(
        model="scripted-demo", messages=user("say   this back #ttft:0")
    )
    await client.close()
    assert completion.choices[0].message.content == "say this back"


@pytest.mark.parametrize(
    ("text", "error", "status"),
    [
        ("#fail:500", openai.InternalServerError, 500),
        ("#fail:503", openai.InternalServerError, 503),
        ("#fail:429", openai.RateLimitError, 429),
    ],
)
async def test_it_injects_http_errors_before_streaming(scripted, text, error, status):
    client = sdk(scripted)
    with pytest.raises(error) as caught:
        await client.chat.completions.create(
            model="scripted-demo", messages=user(text), stream=True
        )
    await client.close()
    assert caught.value.status_code == status
    assert caught.value.body["code"] == status
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert scripted.requests()[-1]["status"] == status


async def test_it_rejects_bad_requests_with_openai_style_errors(scripted):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{scripted.base_url}/chat/completions", json={}) as r:
            missing = (r.status, await r.json())
        async with session.post(
            f"{scripted.base_url}/chat/completions", json={"model": "gpt-x", "messages": user("a")}
        ) as r:
            wrong_model = (r.status, await r.json())
        async with session.post(f"{scripted.base_url}/chat/completions", data=b"{nope") as r:
            not_json = r.status
        async with session.get(f"{scripted.base_url}/nothing-here") as r:
            unknown = (r.status, await r.json())
    assert missing[0] == 400
    assert missing[1]["error"]["param"] == "messages"
    assert missing[1]["error"]["type"] == "BadRequestError"
    assert wrong_model[0] == 404 and wrong_model[1]["error"]["param"] == "model"
    assert not_json == 400
    assert unknown[0] == 404 and unknown[1]["error"]["code"] == 404


async def test_the_sdk_raises_bad_request_for_zero_max_tokens(scripted):
    client = sdk(scripted)
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="scripted-demo", messages=user("hi"), max_tokens=0
        )
    await client.close()


async def test_it_lists_the_model(scripted):
    client = sdk(scripted)
    models = await client.models.list()
    await client.close()
    assert [m.id for m in models.data] == ["scripted-demo"]


async def test_a_cut_directive_breaks_the_stream_after_n_tokens(scripted):
    client = sdk(scripted)
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        stream = await client.chat.completions.create(
            model="scripted-demo", messages=user("#cut:3"), stream=True
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    await client.close()
    assert received == ["[Scripted ", "demo ", "model "]
    request = scripted.requests()[-1]
    assert request["cut"] and request["tokens_sent"] == 3 and not request["completed"]


async def test_stats_record_timings_per_token(scripted):
    scripted.configure(ttft_s=0.1, token_delay_s=0.01)
    client = sdk(scripted)
    stream = await client.chat.completions.create(
        model="scripted-demo", messages=user("#long:5 hi"), stream=True
    )
    [_ async for _ in stream]
    await client.close()
    [request] = scripted.requests()
    assert request["first_token_at"] - request["started_at"] >= 0.1
    times = request["token_times"]
    assert len(times) == 5 and times[0] == request["first_token_at"]
    assert all(b - a >= 0.009 for a, b in itertools.pairwise(times))
    assert request["completed"] and request["finish_reason"] == "stop"


async def test_the_control_endpoints_change_config_and_clear_stats(scripted):
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{scripted.base_url}/chat/completions",
            json={"model": "scripted-demo", "messages": user("x")},
        ) as r:
            assert r.status == 200
        root = scripted.base_url.removesuffix("/v1")
        async with session.get(f"{root}/_scripted/stats") as r:
            assert (await r.json())["count"] == 1
        async with session.post(f"{root}/_scripted/config", json={"fail_status": 503}) as r:
            assert (await r.json())["fail_status"] == 503
        async with session.post(f"{root}/_scripted/config", json={"mode": "poetry"}) as r:
            assert r.status == 400
        async with session.post(f"{root}/_scripted/reset") as r:
            assert r.status == 200
        async with session.get(f"{root}/_scripted/stats") as r:
            assert (await r.json()) == {
                "count": 0,
                "in_flight": 0,
                "peak_in_flight": 0,
                "requests": [],
            }
    assert scripted.state.config.fail_status == 503


async def test_the_stats_count_requests_in_flight_and_their_peak(scripted):
    scripted.configure(ttft_s=0.3)
    client = sdk(scripted)

    async def ask() -> None:
        await client.chat.completions.create(model="scripted-demo", messages=user("hi"))

    first = [asyncio.create_task(ask()) for _ in range(3)]
    async with asyncio.timeout(5):
        while scripted.stats()["in_flight"] < 3:  # noqa: ASYNC110 (the server's thread counts)
            await asyncio.sleep(0.01)
    # A reset while requests run: they count toward the next peak.
    scripted.reset()
    assert scripted.stats()["peak_in_flight"] == 3
    await asyncio.gather(*first)
    assert (scripted.stats()["in_flight"], scripted.stats()["peak_in_flight"]) == (0, 3)

    scripted.reset()
    await asyncio.gather(ask(), ask())
    assert (scripted.stats()["in_flight"], scripted.stats()["peak_in_flight"]) == (0, 2)


def test_a_server_thread_starts_on_a_free_port_and_stops():
    with ScriptedServerThread(ScriptedConfig(ttft_s=0)) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        port = server.port
    assert server.port is None and port


def test_directives_are_parsed_and_removed():
    directives, cleaned = parse_directives("help #fail:503 me #slow:0.5 #long:7 #ttft:1.5 #cut:2")
    assert (directives.fail, directives.slow, directives.long) == (503, 0.5, 7)
    assert (directives.ttft, directives.cut) == (1.5, 2)
    assert cleaned == "help me"
    assert parse_directives("#fail:200")[0].fail is None


def test_the_demo_reply_is_deterministic_and_says_it_is_not_an_ai():
    reply = demo_reply("one two three four five six seven eight nine ten", 2)
    assert reply == demo_reply("one two three four five six seven eight nine ten", 2)
    assert "scripted demo" in reply and "not from an AI" in reply
    assert (
        'Your message 2 had 10 words, beginning "one two three four five six seven eight…"'
        in reply
    )


def test_a_plan_respects_max_tokens_and_directives():
    config = ScriptedConfig(ttft_s=0.3, token_delay_s=0.02)
    plan = plan_reply(user("#long:50 #slow:0.1"), config, max_tokens=10)
    assert len(plan.tokens) == 10 and plan.finish_reason == "length"
    assert (plan.ttft_s, plan.token_delay_s) == (0.3, 0.1)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80))
def test_tokens_join_back_to_the_text(text):
    tokens = tokenize(text)
    if text.strip():
        assert "".join(tokens) == text
        assert all(t.strip() for t in tokens)
    else:
        assert tokens == []
