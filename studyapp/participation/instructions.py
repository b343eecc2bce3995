"""What the instructions page says about the study's design, from its settings (pure).

The investigator's instructions text says what is particular to the study; the numbers (how
many scenarios, how many messages, which questions) and what the participant's arm does
come from here, so the page cannot contradict the study it describes.
"""

from __future__ import annotations

from dataclasses import dataclass

# The third question of every answer form (the first two are the study's own).
CONFIDENCE_QUESTION = "How confident are you in your answer?"

_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number_word(n: int) -> str:
    """'three'; numbers past ten as digits."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def count_of(n: int, noun: str) -> str:
    """'one scenario', 'three questions', '12 messages'."""
    return f"{number_word(n)} {noun if n == 1 else noun + 's'}"


def answer_questions(*, disposition_question: str, conditions_question: str) -> tuple[str, ...]:
    """The questions the answer form asks about each scenario, in its order."""
    return (disposition_question, conditions_question, CONFIDENCE_QUESTION)


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
    most = count_of(max_turns, "message")
    if min_turns and min_turns == max_turns:
        messages = f"exactly {most}"
    elif min_turns:
        messages = f"at least {number_word(min_turns)} and at most {most}"
    else:
        messages = f"up to {most}"
    questions = answer_questions(
        disposition_question=disposition_question, conditions_question=conditions_question
    )
    return Instructions(
        scenarios=count_of(scenario_count, "scenario"),
        several=scenario_count > 1,
        arm_kind=arm_kind,
        assistant=assistant_label,
        messages=messages,
        questions=questions,
        question_count=count_of(len(questions), "question"),
    )
