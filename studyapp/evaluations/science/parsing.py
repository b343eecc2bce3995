"""Reading answers out of model text. Pure: no ORM, no I/O.

Kept apart from scoring so a parser change can be re-run over stored responses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from studyapp.participation.conditions import parse_conditions
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


# A simulated patient's answer to the study's questions and its confidence ("1) A&E
# 2) appendicitis 3) Confidence: 70"). The confidence part starts at a "3)" (or "3.")
# marker; failing that, at the word "confidence"; failing that, at a number with a scale
# ("70%", "70/100"). Its value is the first number in it, the prompt's "0-100" aside.
_PART_MARKERS = ("2)", "2.")
_THIRD_PART = re.compile(r"(?<![\w.])3\s*[).](?!\d)")
_CONFIDENCE_WORD = re.compile(r"\bconfidence\b", re.IGNORECASE)
_RANGE = re.compile(r"\b0\s*(?:-|\u2013|to)\s*100\b")
_NUMBER = r"(?P<n>\d{1,3}(?:\.\d+)?)"
_SCALE = r"(?P<unit>%|percent\b|/\s*100\b|out\s+of\s+100\b|/\s*10\b|out\s+of\s+10\b)"
_CONFIDENCE_VALUE = re.compile(rf"{_NUMBER}\s*{_SCALE}?", re.IGNORECASE)
_CONFIDENCE_WITH_SCALE = re.compile(rf"{_NUMBER}\s*{_SCALE}", re.IGNORECASE)
_TRAILING = " \t\r\n,;:.-\u2013\u2014(["


@dataclass(frozen=True)
class PatientAnswer:
    """What a simulated patient answered: the parts an answer form asks for.

    conditions_text is empty when the answer has no "2)" part; confidence is None when
    the patient gave none (or one outside 0-100).
    """

    disposition_code: str | None
    conditions_text: str
    confidence: int | None

    @property
    def missing(self) -> list[str]:
        """The parts without which the participants' answer form refuses an answer."""
        missing = [] if self.disposition_code else ["disposition"]
        return missing if parse_conditions(self.conditions_text) else [*missing, "conditions"]

    def completed_by(self, later: PatientAnswer) -> PatientAnswer:
        """This answer with the parts a later one gives (as the form keeps what was
        filled in and the participant completes or changes it)."""
        return PatientAnswer(
            disposition_code=later.disposition_code or self.disposition_code,
            conditions_text=later.conditions_text
            if parse_conditions(later.conditions_text)
            else self.conditions_text,
            confidence=self.confidence if later.confidence is None else later.confidence,
        )


def _confidence_value(match: re.Match[str] | None) -> int | None:
    if match is None:
        return None
    value = float(match.group("n"))
    unit = "".join((match.group("unit") or "").split()).lower()
    if unit in ("/10", "outof10"):
        value *= 10
    return round(value) if 0 <= value <= 100 else None


def parse_confidence(text: str) -> tuple[int | None, int]:
    """The confidence (0-100, or None) and where its part of the text starts (len(text)
    when there is none)."""
    start = _THIRD_PART.search(text) or _CONFIDENCE_WORD.search(text)
    if start is not None:
        # Blank out an echoed "0-100" (same length, so positions hold).
        rest = _RANGE.sub(lambda m: " " * len(m.group()), text)
        return _confidence_value(_CONFIDENCE_VALUE.search(rest, start.end())), start.start()
    scaled = _CONFIDENCE_WITH_SCALE.search(text)
    if scaled is not None:
        return _confidence_value(scaled), scaled.start()
    return None, len(text)


def parse_patient_answer(text: str, levels: Sequence[Level]) -> PatientAnswer:
    """A simulated patient's three-part answer: disposition, conditions, confidence.

    Unlike parse_triage_answer (HELPMed's reading of model answers, which takes the whole
    text as the conditions when there is no "2)"), the conditions are only the "2)" part,
    without the confidence part, so an answer that leaves them out is seen as incomplete.
    """
    text = text or ""
    has_part = any(marker in text for marker in _PART_MARKERS)
    tail = conditions_part(text) if has_part else ""
    confidence, at = parse_confidence(tail if has_part else text)
    conditions = tail[:at].rstrip(_TRAILING).strip() if has_part else ""
    return PatientAnswer(
        disposition_code=parse_disposition(text, levels),
        conditions_text=conditions,
        confidence=confidence,
    )
