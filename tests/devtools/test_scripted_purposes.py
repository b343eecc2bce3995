"""The scripted server answers as the persona a request's purpose selects (its
X-Studyapp-Purpose header), whatever model the request names."""

from __future__ import annotations

import aiohttp
import pytest

from studyapp.chat.llm import PURPOSE_HEADER, EndpointConfig, OpenAICompatibleClient, Purpose
from studyapp.devtools.scripted_server import (
    ScriptedConfig,
    ScriptedServerThread,
    demo_reply,
    mcq_options,
    options_fingerprint,
    patient_reply,
)

QUESTION = "Which one?\n\n(A) alpha\n(B) beta\n(C) gamma\n(D) delta"
SYSTEM = "You are a patient. Scenario: a sore throat for two days and a mild fever."


def messages(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def client_for(server, purpose: str) -> OpenAICompatibleClient:
    return OpenAICompatibleClient(
        EndpointConfig(
            endpoint_id=601,
            base_url=server.base_url,
            model="scripted-demo",
            api_key="EMPTY",
            timeout_s=5,
            max_concurrent_streams=4,
            purpose=purpose,
        )
    )


async def post(server, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/chat/completions", json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_the_mcq_purpose_answers_as_the_mcq_taker_under_the_demo_models_name(scripted):
    scripted.configure(mcq_answer_key={options_fingerprint(mcq_options(QUESTION)): "C"})
    try:
        result = await client_for(scripted, Purpose.MCQ).complete(messages(QUESTION))
    finally:
        scripted.configure(mcq_answer_key={})
    assert result.text.endswith("Final Answer: (C)")
    [request] = scripted.requests()
    assert (request["model"], request["purpose"]) == ("scripted-demo", "mcq")


async def test_the_patient_purpose_answers_as_the_lay_patient(scripted):
    result = await client_for(scripted, Purpose.PATIENT).complete(messages("Hello, I'm here."))
    assert result.text == patient_reply(SYSTEM, 1)
    assert scripted.requests()[-1]["model"] == "scripted-demo"


async def test_a_participants_chat_gets_the_demo_model(scripted):
    result = await client_for(scripted, Purpose.CHAT).complete(messages(QUESTION))
    assert result.text == demo_reply(QUESTION, 1)


async def test_a_purpose_without_a_persona_gets_the_models_mode():
    config = ScriptedConfig(ttft_s=0, token_delay_s=0, purposes={"mcq": "mcq"})
    with ScriptedServerThread(config) as server:
        result = await client_for(server, Purpose.GRADER).complete(messages("grade this"))
    assert result.text == demo_reply("grade this", 1)


async def test_the_purpose_wins_over_a_persona_model_name(scripted):
    body = {"model": "scripted-patient", "messages": messages(QUESTION)}
    status, reply = await post(scripted, body, {PURPOSE_HEADER: "mcq"})
    assert status == 200 and "Final Answer: (" in reply["choices"][0]["message"]["content"]
    assert reply["model"] == "scripted-patient"


async def test_persona_model_names_still_work_without_a_purpose(scripted):
    status, reply = await post(scripted, {"model": "scripted-mcq", "messages": messages(QUESTION)})
    assert status == 200 and "Final Answer: (" in reply["choices"][0]["message"]["content"]
    assert reply["model"] == "scripted-mcq"


async def test_an_unknown_purpose_header_is_ignored(scripted):
    body = {"model": "scripted-demo", "messages": messages("hello")}
    status, reply = await post(scripted, body, {PURPOSE_HEADER: "poetry"})
    assert status == 200
    assert reply["choices"][0]["message"]["content"] == demo_reply("hello", 1)
    assert scripted.requests()[-1]["purpose"] == "poetry"


async def test_the_purposes_are_configurable():
    config = ScriptedConfig(ttft_s=0, token_delay_s=0, purposes={"grader": "echo"})
    with ScriptedServerThread(config) as server:
        graded = await client_for(server, Purpose.GRADER).complete(messages("say   this"))
        unmapped = await client_for(server, Purpose.MCQ).complete(messages(QUESTION))
    assert graded.text == "say this"
    assert unmapped.text == demo_reply(QUESTION, 1)


@pytest.mark.parametrize(
    ("purposes", "message"),
    [({"poetry": "mcq"}, "purposes must be among"), ({"mcq": "poetry"}, "purpose modes")],
)
def test_purposes_must_name_known_purposes_and_modes(purposes, message):
    with pytest.raises(ValueError, match=message):
        ScriptedConfig(purposes=purposes).validate()


def test_a_request_config_takes_the_purposes_mode_then_the_model_names():
    config = ScriptedConfig()
    assert config.for_request(model="scripted-demo", purpose=None) is config
    assert config.for_request(model="scripted-demo", purpose="mcq").mode == "mcq"
    assert config.for_request(model="scripted-mcq", purpose="patient").mode == "patient"
    assert config.for_request(model="scripted-mcq", purpose="grader").mode == "grader"
    unmapped = ScriptedConfig(purposes={})
    assert unmapped.for_request(model="scripted-mcq", purpose="grader").mode == "mcq"
    assert config.for_request(model="scripted-mcq", purpose=None).model == "scripted-mcq"
