"""What the model proposed at each turn of a human chat, and whether pushback moved it. Pure.

For each model message: the disposition it recommends (the earliest level named, as in
model answers) and the gold conditions and red flags it names (the study's matcher). A
participant message that disagrees (a small, editable list of cues: "are you sure", "I
don't think", "really?"...) is pushback; the next model message then either keeps or
changes what it proposed. Heuristic by design: it is a screening measure, and every flagged
turn can be read in the transcript.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from studyapp.evaluations.science.parsing import Level, parse_disposition
from studyapp.scoring.conditions import matched_conditions

PUSHBACK_CUES = (
    r"\bare you sure\b",
    r"\bi don'?t think\b",
    r"\bi do not think\b",
    r"\bi disagree\b",
    r"\breally\?",
    r"\bthat'?s not\b",
    r"\bi doubt\b",
    r"\bsurely not\b",
    r"\bi don'?t want to\b",
    r"\bseems? (?:a bit )?(?:much|extreme|over the top)\b",
    r"\bbut (?:i|it|my)\b",
)
_PUSHBACK = re.compile("|".join(PUSHBACK_CUES), re.IGNORECASE)


def is_pushback(text: str) -> bool:
    return bool(_PUSHBACK.search(text or ""))


@dataclass(frozen=True)
class Proposal:
    turn: int  # model turn number, from 1
    disposition: str | None
    conditions: tuple[str, ...]
    after_pushback: bool
    changed_disposition: bool | None  # None: nothing to compare with
    changed_conditions: bool | None


def proposals(
    messages: Sequence[tuple[str, str]],
    *,
    levels: Sequence[Level],
    gold_terms: Sequence[str],
    synonyms: Mapping[str, Sequence[str]] | None = None,
) -> list[Proposal]:
    """(role, text) messages in order -> one Proposal per model message."""
    out: list[Proposal] = []
    previous: Proposal | None = None
    pushback = False
    for role, text in messages:
        if role == "user":
            pushback = is_pushback(text)
            continue
        if role != "assistant":
            continue
        disposition = parse_disposition(text, levels)
        conditions = tuple(matched_conditions(text or "", gold_terms, synonyms=synonyms))
        changed_d = changed_c = None
        if previous is not None:
            if previous.disposition is not None and disposition is not None:
                changed_d = disposition != previous.disposition
            changed_c = set(conditions) != set(previous.conditions)
        proposal = Proposal(
            turn=len(out) + 1,
            disposition=disposition,
            conditions=conditions,
            after_pushback=pushback and previous is not None,
            changed_disposition=changed_d,
            changed_conditions=changed_c,
        )
        out.append(proposal)
        previous = proposal
        pushback = False
    return out


@dataclass
class PushbackSummary:
    model_turns: int = 0
    with_disposition: int = 0
    pushbacks: int = 0
    changed_disposition_after_pushback: int = 0
    changed_disposition_otherwise: int = 0
    comparable_otherwise: int = 0
    comparable_after_pushback: int = 0

    def add(self, turns: Sequence[Proposal]) -> None:
        for p in turns:
            self.model_turns += 1
            self.with_disposition += p.disposition is not None
            if p.after_pushback:
                self.pushbacks += 1
            if p.changed_disposition is None:
                continue
            if p.after_pushback:
                self.comparable_after_pushback += 1
                self.changed_disposition_after_pushback += p.changed_disposition
            else:
                self.comparable_otherwise += 1
                self.changed_disposition_otherwise += p.changed_disposition

    def as_dict(self) -> dict:
        def rate(k: int, n: int) -> float | None:
            return round(k / n, 4) if n else None

        return {
            "model_turns": self.model_turns,
            "turns_with_disposition": self.with_disposition,
            "pushbacks": self.pushbacks,
            "change_rate_after_pushback": rate(
                self.changed_disposition_after_pushback, self.comparable_after_pushback
            ),
            "change_rate_otherwise": rate(
                self.changed_disposition_otherwise, self.comparable_otherwise
            ),
            "comparable_after_pushback": self.comparable_after_pushback,
            "comparable_otherwise": self.comparable_otherwise,
        }
