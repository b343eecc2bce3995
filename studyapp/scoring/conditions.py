"""Does a free-text answer name a gold condition? HELPMed's fuzzy rule. Pure: no Django.

The rule (Bean et al., SCIENCE.md section 1): a gold term matches when it occurs inside
the answer, both lower-cased, with at most floor(threshold x term length) character
edits (Levenshtein: insertions, deletions, substitutions; threshold 0.2 = "80%
similarity"). It is a substring search, not a word search: HELPMed's published labels
were made that way (so "TIA" matches inside "potential"), and we reproduce them exactly
on their 1,800 model answers (tests/scoring/test_helpmed_agreement.py). The fuzzy search
is the `regex` module's `{e<=k}` constraint, not code of ours.

Synonyms and abbreviations are per scenario: {gold term: [other names]}. A long other name
(five characters or more) uses the same fuzzy rule; a short one ("MI", "PE", "DVT", "UTI")
must stand as a whole word, spelled exactly (any case) — fuzzy substrings of two or three
letters would match almost anything. A match on another name counts as its gold term.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache

import regex
from rapidfuzz.distance import LCSseq

# Stored with every score (Answer.scorer_version, EvaluationItem); bump it when a rule
# changes so old scores can be found and re-scored (`manage.py rescore_answers`).
SCORER_VERSION = "helpmed-fuzzy-1"

DEFAULT_THRESHOLD = 0.2
# Other names up to this length are abbreviations: whole word, exact spelling.
ABBREVIATION_MAX_CHARS = 4

# Apostrophes vanish ("Crohn's" == "Crohns"); every other non-alphanumeric is a space.
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_HAS_ALNUM = re.compile(r"\w")

# HELPMed's convention for model answers to both questions at once ("1) A&E ... 2) I
# think it is ..."): the conditions are the text after the first "2)", or failing that
# after the first "2."; without either marker, the whole text. This reproduces HELPMed's
# own `conditions` column from `model_text` for all 1,800 answers.
_PART_MARKERS = ("2)", "2.")


def normalize(text: str) -> str:
    """Lower-case, strip accents, turn punctuation into single spaces (for display keys)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    without_apostrophes = _APOSTROPHES.sub("", ascii_only)
    return _NON_ALNUM.sub(" ", without_apostrophes).strip()


def conditions_part(text: str) -> str:
    """The conditions part of a two-part model answer (the text after "2)" or "2.")."""
    for marker in _PART_MARKERS:
        _head, found, tail = text.partition(marker)
        if found:
            return tail
    return text


def max_edits(term: str, threshold: float = DEFAULT_THRESHOLD) -> int:
    """floor(threshold x length); the epsilon keeps 0.2 x 35 = 7.000...01 from mattering."""
    return math.floor(len(term) * threshold + 1e-9)


@lru_cache(maxsize=4096)
def _fuzzy_pattern(term: str, edits: int) -> regex.Pattern[str]:
    if edits == 0:
        return regex.compile(regex.escape(term))
    return regex.compile(f"(?:{regex.escape(term)}){{e<={edits}}}")


@lru_cache(maxsize=1024)
def _word_pattern(term: str) -> regex.Pattern[str]:
    return regex.compile(rf"(?<!\w){regex.escape(term)}(?!\w)")


@lru_cache(maxsize=4096)
def _pieces(term: str, edits: int) -> tuple[str, ...]:
    # Pigeonhole: k edits touch at most k of k+1 disjoint pieces of the term, so any
    # match with at most k edits contains one piece verbatim. The fuzzy search then only
    # runs on short windows around each verbatim piece, not the whole answer: the same
    # result, many times faster (most gold terms are absent from most answers).
    size, extra = divmod(len(term), edits + 1)
    pieces, start = [], 0
    for i in range(edits + 1):
        end = start + size + (1 if i < extra else 0)
        pieces.append(term[start:end])
        start = end
    return tuple(pieces)


def _fuzzy_found(lowered_answer: str, term: str, threshold: float) -> bool:
    lowered = term.lower()
    edits = max_edits(lowered, threshold)
    if edits == 0:
        return lowered in lowered_answer
    if edits >= len(lowered):
        return True  # every character may be edited away: the empty match counts
    length = len(lowered)
    windows: list[tuple[int, int]] = []
    offset = 0
    for piece in _pieces(lowered, edits):
        found = lowered_answer.find(piece)
        while found != -1:
            # A match holding this piece verbatim starts within `edits` of where the
            # piece's offset puts it and is at most `edits` longer than the term.
            windows.append((max(0, found - offset - edits), found - offset + length + 2 * edits))
            found = lowered_answer.find(piece, found + 1)
        offset += len(piece)
    pattern = _fuzzy_pattern(lowered, edits)
    # Overlapping windows (several pieces of one near-miss) are searched once, merged.
    windows.sort()
    merged: list[list[int]] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return any(
        # A match with at most k edits keeps m - k of the term's characters in order, so
        # a window whose longest common subsequence with the term is shorter holds none
        # (rapidfuzz's bit-parallel LCS costs microseconds; the fuzzy regex, far more).
        LCSseq.similarity(lowered, lowered_answer[start:end], score_cutoff=length - edits)
        and pattern.search(lowered_answer, start, end) is not None
        for start, end in merged
    )


def _other_name_found(lowered_answer: str, name: str, threshold: float) -> bool:
    stripped = name.strip()
    if not _HAS_ALNUM.search(stripped):
        return False
    if len(stripped) <= ABBREVIATION_MAX_CHARS:
        return _word_pattern(stripped.lower()).search(lowered_answer) is not None
    return _fuzzy_found(lowered_answer, stripped, threshold)


def _synonyms_by_term(
    synonyms: Mapping[str, Sequence[str]] | None,
) -> dict[str, list[str]]:
    # Keys are matched to gold terms case- and space-insensitively.
    out: dict[str, list[str]] = {}
    for key, names in (synonyms or {}).items():
        out.setdefault(" ".join(key.lower().split()), []).extend(names)
    return out


def matched_conditions(
    answer_text: str,
    gold_terms: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    two_part: bool = False,
) -> list[str]:
    """The gold terms the answer names, in gold order, each once (original spelling).

    `two_part=True` scores only the conditions part of a two-question model answer.
    """
    text = conditions_part(answer_text) if two_part else answer_text
    lowered = text.lower()
    if not _HAS_ALNUM.search(lowered):
        return []
    other_names = _synonyms_by_term(synonyms)
    matched: list[str] = []
    seen: set[str] = set()
    for term in gold_terms:
        key = " ".join(term.lower().split())
        if not _HAS_ALNUM.search(key) or key in seen:
            continue
        if _fuzzy_found(lowered, term, threshold) or any(
            _other_name_found(lowered, name, threshold) for name in other_names.get(key, ())
        ):
            matched.append(term)
            seen.add(key)
    return matched


def names_any_condition(
    answer_text: str,
    gold_terms: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    two_part: bool = False,
) -> bool:
    """HELPMed's condition criterion: at least one gold condition is named."""
    return bool(
        matched_conditions(
            answer_text, gold_terms, threshold=threshold, synonyms=synonyms, two_part=two_part
        )
    )
