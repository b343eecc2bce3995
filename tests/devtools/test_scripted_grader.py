"""The scripted rubric grader: a verdict by a rule known in advance (the item's key named
in the graded block), inverted on request, and no verdict for a prompt it cannot read."""

from __future__ import annotations

import json

import pytest

from studyapp.chat.llm import EndpointConfig, OpenAICompatibleClient, Purpose
from studyapp.devtools.scripted_server import ScriptedConfig, grader_reply, key_named
from studyapp.evaluations.science.rubric import GRADER_TEMPLATE_TEXT, Turn, grader_prompt

ITEM = {"key": "advises-999", "text": "Advises calling 999.", "points": 3, "applies_to": "model"}


def prompt(said: str, person: str = "hello", item: dict = ITEM) -> str:
    text, _graded = grader_prompt(
        GRADER_TEMPLATE_TEXT,
        scenario="Chest pain.",
        turns=[Turn("person", person), Turn("assistant", said)],
        item=item,
        answer="Care chosen: A&E\nConditions named: angina",
    )
    return text


def verdict(text: str, **kwargs) -> bool:
    return json.loads(grader_reply(text, **kwargs))["met"]


def test_an_item_is_met_when_its_key_is_named_in_the_graded_text():
    assert verdict(prompt("Please ADVISES-999 now."))
    assert not verdict(prompt("Please call an ambulance."))


def test_the_conversation_given_as_context_never_counts():
    assert not verdict(prompt("Rest.", person="should I do advises-999?"))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("advises-999", True),
        ("(advises-999).", True),
        ("not-advises-999", False),
        ("advises-9999", False),
        ("advises-999x", False),
    ],
)
def test_a_key_is_named_only_as_a_whole_token(text, named):
    assert key_named("advises-999", text) is named


def test_an_answer_item_reads_the_answer():
    item = {"key": "angina", "text": "Names angina.", "points": 1, "applies_to": "answer"}
    assert verdict(prompt("Nothing here", item=item))


def test_flipped_keys_get_the_inverted_verdict():
    assert not verdict(prompt("advises-999"), flip_keys=["advises-999"])
    assert verdict(prompt("nothing"), flip_keys=["advises-999"])
    assert (
        "inverted"
        in json.loads(grader_reply(prompt("x"), flip_keys=["advises-999"]))["explanation"]
    )


def test_a_prompt_without_a_rubric_item_gets_no_verdict():
    assert "met" not in grader_reply("Grade this, please.")


def test_flip_keys_must_be_strings():
    with pytest.raises(ValueError, match="grader_flip_keys"):
        ScriptedConfig(grader_flip_keys=[3]).validate()


async def test_the_grader_purpose_selects_the_grader(scripted):
    client = OpenAICompatibleClient(
        EndpointConfig(
            endpoint_id=602,
            base_url=scripted.base_url,
            model="scripted-demo",
            api_key="EMPTY",
            timeout_s=5,
            max_concurrent_streams=4,
            purpose=Purpose.GRADER,
        )
    )
    result = await client.complete([{"role": "user", "content": prompt("advises-999")}])
    assert json.loads(result.text)["met"] is True
    [request] = scripted.requests()
    assert request["purpose"] == "grader"
