"""The blinding guard: words a model must not say about itself (its name, its maker). Pure.

Participants must stay blind to the model they talk to, but models name themselves ("As
Llama, I..."). Each arm lists the terms that would give it away; a reply's occurrences are
found (case-insensitive, whole words) and stored, and when the study chooses to replace them
the participant sees a neutral word instead — while the reply streams, as in its history.
The stored text stays the model's own.

Streaming: ``GuardFilter`` turns raw deltas into display deltas. It holds back the last
(longest term) characters of the text, since a term may still be arriving, so what it has
shown never has to change; ``flush`` gives the rest once the reply ends. Fed in any pieces,
it shows exactly ``displayed(text)`` (a property test checks it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

FLAG = "flag"
REPLACE = "replace"
DEFAULT_REPLACEMENT = "the assistant"
# Words of a term may be apart by this much whitespace (bounded, so a stream knows how
# much to hold back).
MAX_GAP = 3


@dataclass(frozen=True)
class Occurrence:
    term: str
    start: int
    end: int

    def as_dict(self) -> dict:
        return {"term": self.term, "start": self.start, "end": self.end}


def clean_terms(terms: Sequence[str]) -> list[str]:
    """Non-empty terms, stripped, without duplicates (case-insensitive), longest first."""
    seen: dict[str, str] = {}
    for term in terms:
        text = " ".join(str(term).split())
        if text and text.casefold() not in seen:
            seen[text.casefold()] = text
    return sorted(seen.values(), key=lambda t: (-len(t), t.casefold()))


def _pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    # Built once per list of terms: every reply and every page of transcripts asks again.
    return _compiled(tuple(terms))


@functools.lru_cache(maxsize=256)
def _compiled(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    cleaned = clean_terms(terms)
    if not cleaned:
        return None
    # Whole words: not inside a longer word ("Meta" is not "metabolic"); spaces in a term
    # match any run of whitespace. Longest first, so "Llama 3" wins over "Llama".
    alternatives = "|".join(rf"\s{{1,{MAX_GAP}}}".join(map(re.escape, t.split())) for t in cleaned)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def occurrences(text: str, terms: Sequence[str]) -> list[Occurrence]:
    """Every occurrence of a term in the text, with the term as the arm lists it."""
    pattern = _pattern(terms)
    if pattern is None:
        return []
    canonical = {" ".join(t.split()).casefold(): t for t in clean_terms(terms)}
    return [
        Occurrence(canonical.get(" ".join(m.group().split()).casefold(), m.group()), *m.span())
        for m in pattern.finditer(text)
    ]


def displayed(text: str, terms: Sequence[str], replacement: str | None) -> str:
    """What the participant sees of a reply: the text, each term replaced when the study
    replaces them (replacement None: flag only, shown as the model wrote it)."""
    pattern = _pattern(terms)
    if pattern is None or replacement is None:
        return text
    return pattern.sub(replacement, text)


class GuardFilter:
    """Raw reply deltas in, display deltas out (see the module's docstring)."""

    def __init__(self, terms: Sequence[str], replacement: str | None) -> None:
        self.pattern = None if replacement is None else _pattern(terms)
        self.replacement = replacement or ""
        # A term may still be completing in the last `hold` characters (its words spread
        # by up to MAX_GAP spaces); one more, so the character after a match is known.
        self.hold = (
            max((len(t) + (MAX_GAP - 1) * t.count(" ") for t in clean_terms(terms)), default=0) + 1
        )
        self.raw = ""
        self.shown = 0  # raw characters already shown

    def feed(self, delta: str) -> str:
        if self.pattern is None:
            return delta
        self.raw += delta
        cut = len(self.raw) - self.hold
        if cut <= self.shown:
            return ""
        # A match that runs past the cut waits whole for the next piece.
        for match in self.pattern.finditer(self.raw, self.shown):
            if match.start() >= cut:
                break
            if match.end() > cut:
                cut = match.start()
                break
        return self._show_until(cut)

    def flush(self) -> str:
        if self.pattern is None:
            return ""
        return self._show_until(len(self.raw))

    def _show_until(self, cut: int) -> str:
        if cut <= self.shown:
            return ""
        # Searched in the whole text, so both word-boundary checks see real neighbours;
        # feed() moved the cut off any match that crosses it.
        out, position = [], self.shown
        for match in self.pattern.finditer(self.raw, self.shown):
            if match.end() > cut:
                break
            out += [self.raw[position : match.start()], self.replacement]
            position = match.end()
        out.append(self.raw[position:cut])
        self.shown = cut
        return "".join(out)
