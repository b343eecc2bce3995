"""The instructions page says what the participant will do, from the study's settings and
their arm (participation.instructions), once, and only about what is on their pages."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client

from studyapp.participation.instructions import (
    CONFIDENCE_QUESTION,
    instructions_for,
)
from studyapp.studies.demo import demo_seed
from studyapp.studies.models import Study
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_scenario,
    make_study,
)
from tests.participation.conftest import enter


def page_text(html: str) -> str:
    """The visible text of the instructions card, one space between words."""
    card = html[html.index('<article class="card narrow" id="instructions">') :]
    card = card[: card.index("</article>")]
    card = re.sub(r"<form.*?</form>", " ", card, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", card)).split())


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.:!?])\s+", text) if s.strip()]


def instructions_page(study: Study) -> str:
    """The instructions card's text, for a new participant who just consented."""
    flow = enter(Client(), study)
    flow.post("consent", {"agree": "1"})
    response = flow.home()
    assert "participation/instructions.html" in [t.name for t in response.templates]
    return page_text(response.content.decode())


def test_it_says_small_numbers_in_words():
    def guide(scenarios: int, max_turns: int):
        return instructions_for(
            scenario_count=scenarios,
            arm_kind="llm",
            assistant_label="assistant",
            min_turns=0,
            max_turns=max_turns,
            disposition_question="Where?",
            conditions_question="Why?",
        )

    assert guide(1, 12).scenarios == "one scenario"
    assert guide(1, 12).question_count == "three questions"
    assert guide(1, 12).messages == "up to 12 messages"


@pytest.mark.parametrize(
    ("min_turns", "max_turns", "messages"),
    [
        (1, 10, "at least one and at most ten messages"),
        (0, 5, "up to five messages"),
        (3, 3, "exactly three messages"),
        (2, 20, "at least two and at most 20 messages"),
        (1, 1, "exactly one message"),
    ],
)
def test_the_message_limits_are_said_as_the_arm_sets_them(min_turns, max_turns, messages):
    guide = instructions_for(
        scenario_count=2,
        arm_kind="llm",
        assistant_label="AI assistant",
        min_turns=min_turns,
        max_turns=max_turns,
        disposition_question="Where?",
        conditions_question="Why?",
    )
    assert guide.messages == messages
    assert guide.scenarios == "two scenarios"
    assert guide.questions == ("Where?", "Why?", CONFIDENCE_QUESTION)
    assert guide.question_count == "three questions"


@pytest.fixture
def llm_three(db) -> Study:
    study = make_study("llm-three", scenarios_per_participant=3)
    for key in ("a", "b", "c"):
        make_scenario(study, key)
    make_llm_arm(study, make_endpoint(), participant_label="Helper", min_turns=2, max_turns=7)
    return study


@pytest.fixture
def control_one(db) -> Study:
    study = make_study("control-one", scenarios_per_participant=1)
    make_scenario(study, "a")
    make_control_arm(study, control_instructions="Note below which sources you used.")
    return study


def test_the_llm_arm_reads_its_own_numbers_and_questions(llm_three):
    text = instructions_page(llm_three)
    assert "You will see three scenarios, one after the other." in text
    assert "Chat with the Helper about it: send at least two and at most seven messages" in text
    assert "You will be asked to confirm, because you cannot go back to that chat" in text
    assert "Answer three questions:" in text
    for question in (
        llm_three.disposition_question,
        llm_three.conditions_question,
        CONFIDENCE_QUESTION,
    ):
        assert question in text


def test_the_control_arm_reads_nothing_of_a_chat_or_a_box_elsewhere(control_one):
    text = instructions_page(control_one)
    assert "You will see one scenario, one after the other" not in text
    assert "You will see one scenario" in text
    assert "using any sources you would ordinarily use at home" in text
    assert "Write down which sources you used" in text
    for absent in ("chat", "assistant", "Finish", "box", "below"):
        assert absent.lower() not in text.lower(), absent
    assert "Answer three questions:" in text


def test_the_demo_instructions_say_nothing_twice(db):
    demo_seed(
        scripted_model_url="http://127.0.0.1:9/v1",
        investigator_password="a-password",
        password_is_explicit=True,
    )
    study = Study.objects.get(slug="demo")
    seen = set()
    for _ in range(30):
        flow = enter(Client(), study)
        flow.post("consent", {"agree": "1"})
        text = page_text(flow.home().content.decode())
        said = sentences(text)
        assert len(said) == len(set(said)), said
        assert "two questions" not in text
        assert len(re.findall(r"\b(two|2) scenarios\b", text)) == 1, text
        seen.add(flow.refresh().arm.kind)
        if len(seen) == 2:
            break
    assert seen == {"llm", "control"}
