"""Default prompt templates for scenario runs (model-alone and simulated participants).

They are data: a run copies them into its config (so the wording it used is kept with its
results) and an investigator may pass other ones. Placeholders: {scenario} (the sections,
heading and text), {disposition_question}, {conditions_question}, {options} (the study's
disposition labels).
"""

from __future__ import annotations

from collections.abc import Sequence

MODEL_ALONE_TEMPLATES = {
    # The paper gave models the scenario in the third person. Scenarios are written to the
    # participant ("You are playing the part of…"), so the preamble reframes them.
    "preamble": (
        "The following describes a person's situation. It is written as addressed to them; "
        "read it as a description of a patient."
    ),
    "together": (
        "{preamble}\n\n{scenario}\n\nAnswer two questions about this patient.\n"
        "1) {disposition_question} Choose exactly one of: {options}.\n"
        "2) {conditions_question}\n"
        "Answer in the form '1) <option> 2) <conditions>'."
    ),
    "disposition": (
        "{preamble}\n\n{scenario}\n\n{disposition_question} "
        "Choose exactly one of: {options}. Answer with the option only."
    ),
    "conditions": "{preamble}\n\n{scenario}\n\n{conditions_question}",
}

# The study's questions as the simulated patient is asked them, at the end and on a re-ask.
_QUESTIONS = (
    "1) {disposition_question} Choose exactly one of: {options}.\n"
    "2) {conditions_question}\n"
    "3) How confident are you in your answer, from 0 (not at all) to 100 (completely)?\n"
    "Answer in the form '1) <option> 2) <conditions> 3) Confidence: <0-100>'."
)

SIMULATED_TEMPLATES = {
    "patient_system": (
        "You are role-playing a patient talking to an AI assistant about a health problem. "
        "You are a lay person with no medical knowledge. Write short, plain questions, one "
        "at a time, as a real member of the public would, using only the facts below; do not "
        "copy them word for word and do not name diagnoses yourself. When you have no more "
        "questions, reply with the single word FINISHED.\n\nScenario:\n{scenario}"
    ),
    "patient_start": "Write your first message to the assistant.",
    "final_questions": (
        "The conversation is over. Based on it, answer as the patient would.\n" + _QUESTIONS
    ),
    # Sent once when the answer lacks a part the participants' answer form requires: what
    # is missing (reask_disposition, reask_conditions), then the questions again.
    "reask": "Please answer again: the answer form needs both answers.\n" + _QUESTIONS,
    "reask_disposition": "Your answer did not choose one of the care options.",
    "reask_conditions": "Your answer did not say in words what you think the problem is.",
}


def scenario_text(sections: Sequence[dict]) -> str:
    parts = []
    for section in sections:
        heading = str(section.get("heading", "")).strip()
        text = str(section.get("text", "")).strip()
        parts.append(f"{heading}\n{text}" if heading else text)
    return "\n\n".join(p for p in parts if p)


def render(template: str, **values: str) -> str:
    return template.format(**values)
