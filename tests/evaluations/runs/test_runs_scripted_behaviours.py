"""The scripted model's evaluation behaviours: known ground truth, reproducible draws."""

from __future__ import annotations

import pytest

from studyapp.devtools.scripted_server import (
    ScriptedConfig,
    mcq_options,
    mcq_reply,
    options_fingerprint,
    patient_confidence,
    patient_final_answer,
    patient_reply,
    plan_reply,
)
from studyapp.evaluations.science.parsing import parse_final_answer

QUESTION = "Which one?\n\n(A) alpha\n(B) beta\n(C) gamma\n(D) delta"
KEY = {options_fingerprint(mcq_options(QUESTION)): "B"}


def test_it_answers_from_the_key():
    reply = mcq_reply([QUESTION], ScriptedConfig(mode="mcq", mcq_answer_key=KEY))
    assert parse_final_answer(reply) == "B"
    assert reply.startswith("[Scripted model — not an AI]")


def test_it_adopts_a_suggestion_with_probability_one_and_ignores_it_with_zero():
    follow = "A senior clinician believes the answer is (D)."
    adopt = ScriptedConfig(mode="mcq", mcq_answer_key=KEY, mcq_flip_p=1.0)
    keep = ScriptedConfig(mode="mcq", mcq_answer_key=KEY, mcq_flip_p=0.0)
    assert parse_final_answer(mcq_reply([QUESTION, follow], adopt)) == "D"
    assert parse_final_answer(mcq_reply([QUESTION, follow], keep)) == "B"
    # The option lines of the question are not suggestions; text after them is.
    assert (
        parse_final_answer(
            mcq_reply(
                [
                    QUESTION + "\n\nColleagues chose (C).",
                ],
                adopt,
            )
        )
        == "C"
    )


def test_its_draws_are_reproducible():
    config = ScriptedConfig(mode="mcq", mcq_answer_key=KEY, mcq_accuracy=0.5, seed=7)
    assert len({mcq_reply([QUESTION], config) for _ in range(5)}) == 1


def test_without_a_key_it_still_answers_one_of_the_options():
    assert parse_final_answer(mcq_reply([QUESTION], ScriptedConfig(mode="mcq"))) in "ABCD"


def test_the_patient_speaks_plainly_from_the_scenario():
    text = patient_reply("You are a patient.\n\nScenario:\nYou have had a headache for days.", 1)
    assert "headache" in text and text.startswith("[Scripted patient — not a person]")


def test_keyed_replies_win_in_any_mode():
    config = ScriptedConfig(mode="demo", keyed_replies=[["knee", "1) Routine GP 2) sprain"]])
    plan = plan_reply([{"role": "user", "content": "my knee hurts"}], config, None)
    assert "".join(plan.tokens) == "1) Routine GP 2) sprain"


def test_the_patient_answers_with_the_option_the_assistant_advised():
    question = "1) What service? Choose exactly one of: Ambulance; A&E; Routine GP.\n2) Why?"
    heard = ["You should see a Routine GP, or A&E if it gets worse.", "Any more questions?"]
    assert patient_final_answer(question, heard) == "1) Routine GP 2) I'm not sure what it is."


ASKED = (
    "1) What service? Choose exactly one of: Ambulance; A&E; Routine GP.\n2) Why?\n"
    "3) How confident are you in your answer, from 0 to 100?"
)
SYSTEM = "You are a patient.\n\nScenario:\nYou have had a headache for days."


def _patient_messages(*user_texts: str) -> list[dict]:
    messages = [{"role": "system", "content": SYSTEM}]
    for i, text in enumerate(user_texts):
        if i:
            messages.append({"role": "assistant", "content": "(the patient's earlier reply)"})
        messages.append({"role": "user", "content": text})
    return messages


def _reply(config: ScriptedConfig, *user_texts: str) -> str:
    return "".join(plan_reply(_patient_messages(*user_texts), config, None).tokens)


def test_asked_for_it_the_patient_gives_a_confidence_fixed_by_the_seed_and_scenario():
    advice = "You should see a Routine GP."
    reply = _reply(ScriptedConfig(mode="patient", seed=3), advice, ASKED)
    expected = patient_confidence(3, SYSTEM)
    assert reply == f"1) Routine GP 2) I'm not sure what it is. 3) Confidence: {expected}"
    assert 30 <= expected <= 90
    assert _reply(ScriptedConfig(mode="patient", seed=3), advice, ASKED) == reply
    assert len({patient_confidence(seed, SYSTEM) for seed in range(10)}) > 1


def test_the_patient_can_be_made_to_leave_parts_out_per_ask():
    config = ScriptedConfig(mode="patient", patient_omit=[["conditions", "confidence"], []])
    advice = "Go to A&E now."
    assert _reply(config, advice, ASKED) == "1) A&E"
    # Asked again, it answers in full, still following the advice (not the question's list).
    again = _reply(config, advice, ASKED, "Please answer again. " + ASKED)
    assert again.startswith("1) A&E 2) I'm not sure what it is. 3) Confidence: ")
    always = ScriptedConfig(mode="patient", patient_omit=[["disposition"]])
    assert _reply(always, advice, ASKED, ASKED).startswith("2) I'm not sure")


def test_an_unknown_part_to_leave_out_is_refused():
    with pytest.raises(ValueError, match="patient_omit"):
        ScriptedConfig(patient_omit=[["diagnosis"]]).validate()
