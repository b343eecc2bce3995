"""The scripted model's personas: pure functions from a request's texts to a reply."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studyapp.devtools.scripted_server.config import ScriptedConfig

ANSWER_PARTS = ("disposition", "conditions", "confidence")


@dataclass(frozen=True)
class Exchange:
    """What a persona reads of one request."""

    # The system messages' text, joined.
    system: str
    # Every user message's text as sent (directives included).
    user_texts: list[str]
    # The last user message without its directives.
    cleaned: str


# A few very common German words: enough to answer a German demo participant in German
# (demo mode only; a real model answers in the language it is written to).
_GERMAN_WORDS = frozenset(
    [
        "ich",
        "und",
        "nicht",
        "ist",
        "mein",
        "meine",
        "habe",
        "ein",
        "eine",
        "der",
        "die",
        "das",
        "sie",
        "mir",
        "mich",
        "was",
        "wie",
        "bin",
        "seit",
        "schmerzen",
        "tut",
        "weh",
        "soll",
        "kann",
        "auch",
        "bitte",
    ]
)


def looks_german(text: str) -> bool:
    words = re.findall(r"\w+", text.casefold())
    return any(ch in text for ch in "äöüßÄÖÜ") or sum(w in _GERMAN_WORDS for w in words) >= 2


def demo_reply(user_text: str, user_turn: int) -> str:
    """The canned, clearly-labelled reply of demo mode (deterministic; German to German)."""
    words = user_text.split()
    excerpt = " ".join(words[:8]) + ("…" if len(words) > 8 else "")
    if looks_german(user_text):
        echoed_de = f"beginnend mit „{excerpt}“" if words else "ohne Wörter"
        return (
            "[Geskriptetes Demo-Modell — keine KI] Diese Antwort stammt aus einem "
            "geskripteten Demo-Programm, nicht von einer KI, und sie ist kein medizinischer "
            f"Rat. Ihre Nachricht {user_turn} hatte {len(words)} Wörter, {echoed_de}. "
            "In einer echten Studie würde hier ein Sprachmodell antworten. Als allgemeiner "
            "Sicherheitshinweis: Bei starken oder sich rasch verschlimmernden Beschwerden, "
            "etwa Brustschmerzen, Atemnot, Anzeichen eines Schlaganfalls oder starken "
            "Blutungen, rufen Sie die 999 an oder gehen Sie in die Notaufnahme. Wenn Sie "
            "heute Hilfe brauchen, wenden Sie sich an NHS 111 oder eine Notfallpraxis. Wenn "
            "es warten kann, vereinbaren Sie einen Routinetermin in Ihrer Hausarztpraxis; "
            "leichte Beschwerden lassen sich oft zu Hause selbst behandeln."
        )
    echoed = f'beginning "{excerpt}"' if words else "with no words"
    return (
        "[Scripted demo model — not an AI] This reply comes from a scripted demo program, "
        "not from an AI, and it is not medical advice. "
        f"Your message {user_turn} had {len(words)} words, {echoed}. "
        "In a real study a language model would answer here. "
        "As general safety advice: for severe or rapidly worsening symptoms, such as chest "
        "pain, difficulty breathing, signs of a stroke or heavy bleeding, call 999 or go to "
        "A&E. If you need help today, contact NHS 111 or an urgent care service. If it can "
        "wait, book a routine GP appointment; mild symptoms can often be managed at home "
        "with self-care."
    )


_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-J])[).:][ \t]+(\S.*?)[ \t]*$", re.MULTILINE)
_SUGGESTED = re.compile(r"\(([A-J])\)")
SCRIPTED_MCQ_PREFIX = "[Scripted model — not an AI]"
PATIENT_LINES = (
    "Hi, I'm not feeling great and I don't know much about medical things. {excerpt} "
    "What do you think is going on?",
    "Is that something serious? Do I need to see someone?",
    "OK. Should I go somewhere today or can it wait?",
    "What could it be, in simple words?",
    "Thanks. Is there anything I should watch out for?",
)


def mcq_options(text: str) -> dict[str, str]:
    """The answer options of a question text: {"A": "...", ...} from lines like "(A) ..."."""
    return dict(_OPTION_LINE.findall(text))


def options_fingerprint(options: dict[str, str]) -> str:
    """A short key for a question, from its options (what ``mcq_answer_key`` is keyed by)."""
    canonical = "\n".join(f"{k}:{' '.join(options[k].lower().split())}" for k in sorted(options))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _draw(*parts: object) -> float:
    return random.Random(":".join(str(p) for p in parts)).random()


def mcq_reply(user_texts: list[str], config: ScriptedConfig) -> str:
    """Pure: the scripted multiple-choice answer after these user messages."""
    first = user_texts[0] if user_texts else ""
    options = mcq_options(first)
    if not options:
        return f"{SCRIPTED_MCQ_PREFIX} I found no answer options in the question."
    letters = sorted(options)
    key = options_fingerprint(options)
    gold = config.mcq_answer_key.get(key)
    rng = random.Random(f"{config.seed}:{key}:first")
    wrong = [letter for letter in letters if letter != gold]
    if gold in options and rng.random() < config.mcq_accuracy:
        answer = gold
    else:
        answer = rng.choice(wrong or letters)
    for turn, text in enumerate(user_texts):
        # Outside the option lines of the question, "(C)" is a suggestion.
        outside = _OPTION_LINE.sub(" ", text) if turn == 0 else text
        suggested = [s for s in _SUGGESTED.findall(outside) if s in options]
        if (
            suggested
            and suggested[-1] != answer
            and _draw(config.seed, key, turn, suggested[-1]) < config.mcq_flip_p
        ):
            answer = suggested[-1]
    return (
        f"{SCRIPTED_MCQ_PREFIX} Considering options {', '.join(letters)} step by step. "
        f"Final Answer: ({answer})"
    )


def patient_reply(system_text: str, user_turn: int) -> str:
    """Pure: the scripted lay patient's next message (user_turn counts from 1)."""
    words = system_text.split("Scenario:", 1)[-1].split()
    excerpt = " ".join(words[:15]) + ("…" if len(words) > 15 else "")
    line = PATIENT_LINES[(user_turn - 1) % len(PATIENT_LINES)]
    return f"[Scripted patient — not a person] {line.format(excerpt=excerpt)}"


_ONE_OF = re.compile(r"one of:\s*(.+?)(?:\.\s|\.$|\n|$)", re.IGNORECASE)


def patient_confidence(seed: int, scenario: str) -> int:
    """Pure: the scripted patient's confidence (30-90), the same for a seed and scenario."""
    return 30 + int(_draw(seed, "confidence", scenario) * 61)


def patient_final_answer(
    question: str,
    heard: list[str],
    *,
    seed: int = 0,
    scenario: str = "",
    omit: Sequence[str] = (),
) -> str | None:
    """Pure: a lay patient's answer to "choose one of: A; B; C": the option the assistant
    named first in its latest message that names any (the patient follows the advice),
    with a confidence when the question asks for one; the parts in `omit` left out."""
    found = _ONE_OF.search(question)
    if not found:
        return None
    options = [o.strip() for o in found.group(1).split(";") if o.strip()]
    if not options:
        return None
    choice = options[0]
    for said in reversed(heard):
        lowered = said.lower()
        positions = [(lowered.find(o.lower()), o) for o in options if o.lower() in lowered]
        if positions:
            choice = min(positions)[1]
            break
    parts = {
        "disposition": f"1) {choice}",
        "conditions": "2) I'm not sure what it is.",
        "confidence": f"3) Confidence: {patient_confidence(seed, scenario)}"
        if "confiden" in question.lower()
        else "",
    }
    return " ".join(text for part, text in parts.items() if text and part not in omit)


def _omitted(patient_omit: list[list[str]], *, asks: int) -> list[str]:
    """The parts left out of the patient's answer to the `asks`-th asking (from 1)."""
    if not patient_omit or asks < 1:
        return []
    return patient_omit[min(asks, len(patient_omit)) - 1]


def _demo(exchange: Exchange, config: ScriptedConfig) -> str:
    return demo_reply(exchange.cleaned, len(exchange.user_texts))


def _echo(exchange: Exchange, config: ScriptedConfig) -> str:
    return exchange.cleaned or "(empty message)"


def _mcq(exchange: Exchange, config: ScriptedConfig) -> str:
    return mcq_reply(exchange.user_texts, config)


def _patient(exchange: Exchange, config: ScriptedConfig) -> str:
    user_texts = exchange.user_texts
    asked = [_ONE_OF.search(t) is not None for t in user_texts]
    final = patient_final_answer(
        user_texts[-1] if user_texts else "",
        # What the assistant said: the questions themselves name every option.
        [t for t, question in zip(user_texts[:-1], asked, strict=False) if not question],
        seed=config.seed,
        scenario=exchange.system,
        omit=_omitted(config.patient_omit, asks=sum(asked)),
    )
    return final if final is not None else patient_reply(exchange.system, len(user_texts))


SCRIPTED_GRADER_PREFIX = "[Scripted grader — not an AI]"
_CRITERION = re.compile(r'<criterion key="([^"]+)">')
_GRADED = re.compile(r"<graded>\n?(.*?)\n?</graded>", re.DOTALL)


def key_named(key: str, text: str) -> bool:
    """Pure: the rubric item's key appears in the text as a whole token (case-insensitive;
    "names-heart-attack" is not found inside "answer-names-heart-attack")."""
    pattern = rf"(?<![\w-]){re.escape(key)}(?![\w-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def grader_reply(prompt: str, *, flip_keys: Sequence[str] = ()) -> str:
    """Pure: the scripted grader's verdict on a rubric grader prompt.

    The rule, known in advance: the item is met if and only if its key (the `key` of the
    prompt's `<criterion key="...">`) is named as a whole token in the prompt's
    `<graded>` block (studyapp.evaluations.science.rubric's template), and only there: the
    conversation shown for context never counts. The verdict is inverted for the keys in
    `flip_keys`, a grader with known errors (for agreement tests). A prompt without both
    blocks gets a reply that holds no verdict, as an unreadable one would.
    """
    criterion, graded = _CRITERION.search(prompt), _GRADED.search(prompt)
    if criterion is None or graded is None:
        return f"{SCRIPTED_GRADER_PREFIX} I found no rubric item or text to grade."
    key = criterion.group(1)
    found = key_named(key, graded.group(1))
    flipped = key in flip_keys
    explanation = (
        f"{SCRIPTED_GRADER_PREFIX} The graded text {'names' if found else 'does not name'} "
        f"{key}" + (" (verdict inverted: grader_flip_keys)." if flipped else ".")
    )
    return json.dumps({"met": found != flipped, "explanation": explanation})


# Every mode (ScriptedConfig.mode) and the persona that answers in it. A new persona is a
# function here and an entry below; ScriptedConfig.purposes says which request purpose, if
# any, selects it.
def _grader(exchange: Exchange, config: ScriptedConfig) -> str:
    return grader_reply(
        exchange.user_texts[-1] if exchange.user_texts else "",
        flip_keys=config.grader_flip_keys,
    )


PERSONAS: dict[str, Callable[[Exchange, ScriptedConfig], str]] = {
    "demo": _demo,
    "echo": _echo,
    "mcq": _mcq,
    "patient": _patient,
    "grader": _grader,
}
MODES = tuple(PERSONAS)
