"""Reading answers out of model text. Pure: no ORM, no I/O.

Kept apart from scoring so a parser change can be re-run over stored responses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from studyapp.scoring.conditions import conditions_part

# "Final Answer: (B)", "final answer: B", "**Final Answer:** (B) Ketotifen", "Final answer is C".
_FINAL = re.compile(
    r"final\s+answer\s*(?:is|:)?\s*[*_]*\s*[:\-]?\s*[*_]*\s*\(?\s*([A-J])\s*\)?(?![a-z])",
    re.IGNORECASE,
)
# Fallbacks, in order: "answer is (B)", "answer: B", a lone "(B)" at the end.
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*\(?([A-J])\)?(?![a-z])", re.IGNORECASE)
_TRAILING_LETTER = re.compile(r"\(([A-J])\)[\s.*_]*$")


def parse_final_answer(text: str, letters: Sequence[str] = "ABCD") -> str | None:
    """The chosen option letter, or None when the reply names none of `letters`.

    The last "Final Answer" wins (models sometimes restate the question's format first).
    """
    allowed = {letter.upper() for letter in letters}
    for pattern in (_FINAL, _ANSWER_IS):
        found = [m.upper() for m in pattern.findall(text or "")]
        found = [letter for letter in found if letter in allowed]
        if found:
            return found[-1]
    trailing = _TRAILING_LETTER.search((text or "").strip())
    if trailing and trailing.group(1).upper() in allowed:
        return trailing.group(1).upper()
    return None


@dataclass(frozen=True)
class Level:
    """A disposition level as the parser needs it (plain data, not the model row)."""

    code: str
    label: str
    value: int


@dataclass(frozen=True)
class TriageAnswer:
    disposition_code: str | None
    conditions_text: str


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z&]+", " ", text.lower()).split())


def parse_disposition(text: str, levels: Sequence[Level]) -> str | None:
    """The level named in the answer's first part (before "2)"), earliest mention first.

    Longer labels are tried before shorter ones that they contain ("Urgent Primary Care"
    before a hypothetical "Primary Care"), and ties at one position go to the longer label.
    """
    head = text or ""
    for marker in ("2)", "2."):
        if marker in head:
            head = head.split(marker, 1)[0]
            break
    normalized = f" {_norm(head)} "
    best: tuple[int, int, str] | None = None
    for level in levels:
        for name in {level.label, level.code.replace("-", " ").replace("_", " ")}:
            needle = f" {_norm(name)} "
            if needle.strip() == "":
                continue
            at = normalized.find(needle)
            if at >= 0:
                candidate = (at, -len(needle), level.code)
                if best is None or candidate < best:
                    best = candidate
    return best[2] if best else None


def parse_triage_answer(text: str, levels: Sequence[Level]) -> TriageAnswer:
    """A two-part answer ("1) A&E 2) appendicitis, ..."): disposition and conditions text."""
    return TriageAnswer(
        disposition_code=parse_disposition(text, levels), conditions_text=conditions_part(text)
    )
