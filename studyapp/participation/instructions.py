"""What the instructions page says about the study's design, from its settings (pure).

The investigator's instructions text says what is particular to the study; the numbers (how
many scenarios, how many messages, which questions) and what the participant's arm does
come from here, so the page cannot contradict the study it describes.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext, gettext_noop, ngettext

# The third question of every answer form (the first two are the study's own).
# (Marked for translation here, translated where it is shown.)
CONFIDENCE_QUESTION = gettext_noop("How confident are you in your answer?")

_WORDS = (
    gettext_noop("no"),
    gettext_noop("one"),
    gettext_noop("two"),
    gettext_noop("three"),
    gettext_noop("four"),
    gettext_noop("five"),
    gettext_noop("six"),
    gettext_noop("seven"),
    gettext_noop("eight"),
    gettext_noop("nine"),
    gettext_noop("ten"),
)


def number_word(n: int) -> str:
    """'three' (in the active language); numbers past ten as digits."""
    return gettext(_WORDS[n]) if 0 <= n < len(_WORDS) else str(n)


# Written out per noun so that a translation can inflect each (German: "ein Szenario",
# "eine Nachricht").
def _scenarios(n: int) -> str:
    return ngettext("%(n)s scenario", "%(n)s scenarios", n) % {"n": number_word(n)}


def _messages(n: int) -> str:
    return ngettext("%(n)s message", "%(n)s messages", n) % {"n": number_word(n)}


def _questions(n: int) -> str:
    return ngettext("%(n)s question", "%(n)s questions", n) % {"n": number_word(n)}


def answer_questions(*, disposition_question: str, conditions_question: str) -> tuple[str, ...]:
    """The questions the answer form asks about each scenario, in its order."""
    return (disposition_question, conditions_question, gettext(CONFIDENCE_QUESTION))


@dataclass(frozen=True)
class Instructions:
    scenarios: str  # "two scenarios"
    several: bool  # more than one scenario
    arm_kind: str  # "llm" or "control"
    assistant: str  # the LLM arm's participant-facing label
    messages: str  # "at least one and at most ten messages", "up to ten messages"
    questions: tuple[str, ...]
    question_count: str  # "three questions"


def instructions_for(
    *,
    scenario_count: int,
    arm_kind: str,
    assistant_label: str,
    min_turns: int,
    max_turns: int,
    disposition_question: str,
    conditions_question: str,
) -> Instructions:
    most = _messages(max_turns)
    if min_turns and min_turns == max_turns:
        messages = gettext("exactly %(most)s") % {"most": most}
    elif min_turns:
        messages = gettext("at least %(least)s and at most %(most)s") % {
            "least": number_word(min_turns),
            "most": most,
        }
    else:
        messages = gettext("up to %(most)s") % {"most": most}
    questions = answer_questions(
        disposition_question=disposition_question, conditions_question=conditions_question
    )
    return Instructions(
        scenarios=_scenarios(scenario_count),
        several=scenario_count > 1,
        arm_kind=arm_kind,
        assistant=assistant_label,
        messages=messages,
        questions=questions,
        question_count=_questions(len(questions)),
    )
