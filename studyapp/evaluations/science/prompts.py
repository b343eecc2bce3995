"""Prompt templates for scenario runs (model-alone and simulated participants).

They are data: a run copies them into its config (so the wording it used is kept with its
results). Model-alone templates come in presets (HELPMed's framing, the default, and a
third-person one) that a study may edit or add to; `model_alone_template_problems` says
what is wrong with a set before it is saved or used. Placeholders: {scenario} (the
sections, heading and text), {preamble} (the framing, plain text), {disposition_question},
{conditions_question}, {options} (the study's disposition labels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from string import Formatter

# The questions, the same in every preset: only the framing of the scenario differs.
_MODEL_ALONE_QUESTIONS = {
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

# Model-alone prompt templates a study starts with; a study may edit them or add its own
# (evaluations.models.ModelAlonePrompt), and every run copies the texts it used.
MODEL_ALONE_PRESETS: dict[str, dict[str, str]] = {
    # The paper gave models the scenario in the third person. HELPMed's scenarios are
    # written to the participant ("You are playing the part of…"), so the preamble
    # reframes them. The default.
    "helpmed": {
        "label": "HELPMed: a second-person scenario read as a patient's",
        "preamble": (
            "The following describes a person's situation. It is written as addressed to "
            "them; read it as a description of a patient."
        ),
        **_MODEL_ALONE_QUESTIONS,
    },
    # Vignette sets already written about a patient (Semigran's, most case reports): the
    # HELPMed preamble would tell the model they are addressed to someone, which is wrong.
    "third_person": {
        "label": "Third person: a vignette written about a patient",
        "preamble": "The following describes a patient.",
        **_MODEL_ALONE_QUESTIONS,
    },
}
DEFAULT_MODEL_ALONE_PRESET = "helpmed"
MODEL_ALONE_PARTS = ("preamble", "together", "disposition", "conditions")
MODEL_ALONE_TEMPLATES = {
    part: MODEL_ALONE_PRESETS[DEFAULT_MODEL_ALONE_PRESET][part] for part in MODEL_ALONE_PARTS
}

# What a question template may name, and what each must name: without the scenario, the
# questions or the care options the answer cannot be asked or read back.
MODEL_ALONE_PLACEHOLDERS = (
    "scenario",
    "preamble",
    "disposition_question",
    "conditions_question",
    "options",
)
MODEL_ALONE_REQUIRED = {
    "together": ("scenario", "disposition_question", "conditions_question", "options"),
    "disposition": ("scenario", "disposition_question", "options"),
    "conditions": ("scenario", "conditions_question"),
}


def placeholders(template: str) -> list[str]:
    """The {names} a template uses, in order (str.format's own parser). Raises ValueError
    for a brace that is not a placeholder ("{" alone, "}" alone)."""
    return [
        name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        for _, name, spec, conversion in Formatter().parse(template)
        if name is not None
    ]


def model_alone_template_problems(templates: Mapping[str, str]) -> dict[str, list[str]]:
    """What is wrong with a set of model-alone templates, per part ({} when nothing).

    Every message says what to change, for the investigator who typed the template.
    """
    problems: dict[str, list[str]] = {}
    known = ", ".join(f"{{{name}}}" for name in MODEL_ALONE_PLACEHOLDERS)
    preamble = templates.get("preamble", "")
    for part in MODEL_ALONE_PARTS:
        text = templates.get(part, "")
        found: list[str] = []
        try:
            names = placeholders(text)
        except ValueError as exc:
            problems[part] = [
                f"a brace that is not a placeholder ({exc}); write {{{{ and }}}} for a literal "
                "brace"
            ]
            continue
        if part == "preamble":
            if names:
                found.append(
                    "the preamble is inserted as plain text and takes no placeholders "
                    f"(found {', '.join('{' + n + '}' for n in names)})"
                )
        else:
            if not text.strip():
                found.append("this template is empty")
            unknown = [n for n in names if n not in MODEL_ALONE_PLACEHOLDERS]
            if unknown:
                found.append(
                    f"unknown placeholder {', '.join('{' + n + '}' for n in unknown)}; "
                    f"the known ones are {known}"
                )
            missing = [n for n in MODEL_ALONE_REQUIRED[part] if n not in names]
            if preamble.strip() and "preamble" not in names:
                missing.append("preamble")
            if missing:
                found.append(
                    f"missing {', '.join('{' + n + '}' for n in missing)}"
                    + (
                        " (the preamble is set, so each question template must place it)"
                        if "preamble" in missing
                        else ""
                    )
                )
        if found:
            problems[part] = found
    return problems


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
