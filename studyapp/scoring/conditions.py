"""Does a free-text answer name a gold condition? (v0: normalized whole-term match.)

Pure: no Django, no ORM. A later version replaces the rule with HELPMed's fuzzy match
(at most floor(20% x term length) character edits); the signature stays the same.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Apostrophes vanish ("Crohn's" == "Crohns"); every other non-alphanumeric is a space.
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize(text: str) -> str:
    """Lower-case, strip accents, turn punctuation into single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    without_apostrophes = _APOSTROPHES.sub("", ascii_only)
    return _NON_ALNUM.sub(" ", without_apostrophes).strip()


def _term_pattern(normalized_term: str) -> re.Pattern[str]:
    # Whole words only ("angina" must not match "vaginal"), with a plain English plural
    # allowed ("kidney stone" matches "kidney stones").
    return re.compile(rf"(?<![0-9a-z]){re.escape(normalized_term)}(?:e?s)?(?![0-9a-z])")


def matched_conditions(answer_text: str, gold_terms: Sequence[str]) -> list[str]:
    """The gold terms the answer names, in gold order, each once (original spelling)."""
    answer = normalize(answer_text)
    if not answer:
        return []
    matched: list[str] = []
    seen: set[str] = set()
    for term in gold_terms:
        normalized = normalize(term)
        if not normalized or normalized in seen:
            continue
        if _term_pattern(normalized).search(answer):
            matched.append(term)
            seen.add(normalized)
    return matched


def names_any_condition(answer_text: str, gold_terms: Sequence[str]) -> bool:
    """HELPMed's condition criterion: at least one gold condition is named."""
    return bool(matched_conditions(answer_text, gold_terms))
