"""Which of a scenario's key facts did the participant tell the model, and when? Pure.

HELPMed's failure chain starts here: participants gave the model incomplete information.
A scenario's key facts (`Scenario.key_facts`, studies.content) are what a participant
should tell the model, each with phrases (`patterns`) that show they did. This module reads
the participant's own messages, in order, and says for each fact whether it was given and
in which of their messages it first was.

The rule (FACTS_MATCHER_VERSION):

1. Text is normalised as condition matching does (scoring.conditions.normalize): lower
   case, accents stripped, apostrophes dropped ("don't" -> "dont"), every other run of
   non-letters and non-digits one space. "38.3°C" becomes "38 3 c".
2. A message is first cut into clauses, at . ! ? , ; : followed by a space or the end,
   at brackets, line breaks and a spaced dash, so that "38.3" stays whole.
3. A phrase (each of the fact's patterns, and the fact's own text) matches where its
   words stand, in order, as consecutive words of one clause. Every word must be spelled
   in full, except the last: one of STEM_MIN_CHARS characters or more is a stem and may
   continue ("diabet" finds "diabetic", "smok" finds "smoker"); a shorter one must be the
   whole word or that word plus "s" ("arm" finds "arms", never "army"; "wee" never
   "week"). Spelling is exact: typing errors are missed (no fuzzy matching: a one-edit
   tolerance on words of four or five letters would make "fever" find "never").
4. Negation, NegEx-like and deliberately small: an occurrence does not count when one of
   NEGATION_CUES ("no", "not", "never", "without", "dont", "havent"...) stands among the
   NEGATION_WINDOW words before it in the same clause, after the last of
   CLAUSE_BREAK_WORDS ("but", "and", "however"...). "not sure", "no idea", "not only",
   "dont know" and the like (PSEUDO_NEGATIONS) are not negations. So "I have no fever"
   does not give "fever", "no fever but my arm hurts" gives "arm". A negation after the
   phrase ("fever? no") is not seen, nor one further back than the window.
   A fact whose own text holds a negation cue is a pertinent negative ("No pain, numbness
   or weakness in the legs", "does not ease with rest"): saying "no numbness in my legs"
   is telling it, so its phrases count negated or not. The words of a phrase are never
   checked against the cues ("didnt faint" as a pattern finds "I didn't faint").
5. A fact is given in a message when one of its phrases occurs there without negation;
   its first turn is the number (from 1) of the first such participant message. A fact
   whose phrases occurred only negated is reported as such (`negated_only`), for review.

Questions count ("could the pain in my arm matter?" gives the arm): the information
reached the model either way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from studyapp.scoring.conditions import normalize

# Stored with every fact result that leaves this module (exports, pages); bump it when the
# rule changes.
FACTS_MATCHER_VERSION = "facts-words-1"

# A phrase's last word of this many characters or more is a stem; shorter, a whole word.
STEM_MIN_CHARS = 4
# How many words before an occurrence are searched for a negation cue.
NEGATION_WINDOW = 5

NEGATION_CUES = frozenset(
    {
        "no",
        "not",
        "never",
        "without",
        "nor",
        "neither",
        "none",
        "nothing",
        "cannot",
        "dont",
        "doesnt",
        "didnt",
        "havent",
        "hasnt",
        "hadnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "cant",
        "couldnt",
        "wont",
        "wouldnt",
        "shouldnt",
        "aint",
        "denies",
        "denied",
        "deny",
    }
)
# A cue followed by one of these words is not a negation.
PSEUDO_NEGATIONS = frozenset(
    {
        ("not", "sure"),
        ("not", "certain"),
        ("not", "only"),
        ("not", "just"),
        ("no", "idea"),
        ("no", "doubt"),
        ("dont", "know"),
        ("didnt", "know"),
        ("not", "know"),
    }
)
# A negation does not reach past these words.
CLAUSE_BREAK_WORDS = frozenset(
    {"but", "and", "however", "although", "though", "yet", "except", "because", "whereas"}
)

_CLAUSE_BREAKS = re.compile(r"[.!?,;:]+(?=\s|$)|[()\[\]{}\n\r|]+|\s[-\u2013\u2014]+\s")
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_NOT_WORD = re.compile(r"[^0-9a-z|]+")
_BREAK = "|"


@dataclass(frozen=True)
class FactResult:
    key: str
    given: bool
    # Number (from 1) of the participant message that first gave it; None: never.
    first_turn: int | None
    # A phrase occurred, but every occurrence was negated.
    negated_only: bool


@dataclass(frozen=True)
class TurnFacts:
    turn: int  # participant message number, from 1
    given: tuple[str, ...]  # fact keys given in this message (fact order)
    first: tuple[str, ...]  # of those, the ones given here for the first time
    negated: tuple[str, ...]  # fact keys whose phrases occurred here only negated


@dataclass(frozen=True)
class FactsTranscript:
    facts: tuple[FactResult, ...]  # in the scenario's order
    turns: tuple[TurnFacts, ...]

    @property
    def given(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.facts if f.given)

    @property
    def share(self) -> float | None:
        """Share of the key facts given; None for a scenario without key facts."""
        return len(self.given) / len(self.facts) if self.facts else None


def _phrase_pattern(phrase: str) -> str | None:
    words = normalize(phrase).split()
    if not words:
        return None
    *head, last = words
    tail = (
        rf"{re.escape(last)}[a-z0-9]*" if len(last) >= STEM_MIN_CHARS else rf"{re.escape(last)}s?"
    )
    return " ".join([*(re.escape(w) for w in head), tail])


@dataclass(frozen=True)
class CompiledFact:
    key: str
    pattern: re.Pattern[str] | None  # None: no phrase with a letter or digit
    # False for a pertinent negative (its text holds a negation cue): rule 4.
    negatable: bool = True


def is_pertinent_negative(text: str) -> bool:
    return bool(set(normalize(text).split()) & NEGATION_CUES)


def _compile(key: str, phrases: Iterable[str], *, negatable: bool) -> CompiledFact:
    # At one start position every alternative has the same window (rule 4), so their
    # order does not matter; sorted, the pattern is the same from run to run.
    parts = sorted({p for p in map(_phrase_pattern, phrases) if p}, key=lambda p: (-len(p), p))
    if not parts:
        return CompiledFact(key=key, pattern=None, negatable=negatable)
    return CompiledFact(
        key=key,
        pattern=re.compile(rf"(?<![a-z0-9])(?:{'|'.join(parts)})(?![a-z0-9])"),
        negatable=negatable,
    )


@lru_cache(maxsize=512)
def _compile_cached(
    facts: tuple[tuple[str, str, tuple[str, ...]], ...],
) -> tuple[CompiledFact, ...]:
    return tuple(
        _compile(key, (*patterns, text), negatable=not is_pertinent_negative(text))
        for key, text, patterns in facts
    )


def compile_facts(key_facts: Sequence[Mapping]) -> tuple[CompiledFact, ...]:
    """The key facts' phrases (patterns and text) as one pattern per fact, in fact order."""
    frozen = tuple(
        (str(f["key"]), str(f.get("text") or ""), tuple(str(p) for p in f.get("patterns") or ()))
        for f in key_facts
    )
    return _compile_cached(frozen)


def normalise(text: str) -> str:
    """Rules 1 and 2 at once: the normalised words, clauses separated by "|".

    Joined with spaces, the clauses are exactly scoring.conditions.normalize(text) (a test
    checks it); done in one pass, as this runs on every participant message of a study.
    Apostrophes go before clauses are cut, so "it's." ends a clause as "its." does.
    """
    lowered = (text or "").casefold()
    if not lowered.isascii():
        decomposed = unicodedata.normalize("NFKD", lowered)
        lowered = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    lowered = _CLAUSE_BREAKS.sub(f" {_BREAK} ", _APOSTROPHES.sub("", lowered))
    return _NOT_WORD.sub(" ", lowered)


def clauses(text: str) -> list[str]:
    """The message's clauses, normalised (rule 2 then rule 1)."""
    return [c for c in (part.strip() for part in normalise(text).split(_BREAK)) if c]


def is_negated(before: str) -> bool:
    """Do the words before an occurrence (in its clause) negate it (rule 4)?"""
    words = before.split()
    for i in range(len(words) - 1, -1, -1):
        if words[i] in CLAUSE_BREAK_WORDS:
            words = words[i + 1 :]
            break
    window = words[-NEGATION_WINDOW:]
    for i, word in enumerate(window):
        if word not in NEGATION_CUES:
            continue
        following = window[i + 1] if i + 1 < len(window) else None
        if (word, following) not in PSEUDO_NEGATIONS:
            return True
    return False


def facts_in_message(
    compiled: Sequence[CompiledFact], text: str
) -> tuple[frozenset[str], frozenset[str]]:
    """(fact keys given, fact keys mentioned only negated) in one message."""
    given: set[str] = set()
    negated: set[str] = set()
    words = normalise(text)
    for fact in compiled:
        if fact.pattern is None:
            continue
        found = False
        # Every start position, overlapping ones included: a phrase inside a longer one
        # has a window of its own.
        match = fact.pattern.search(words)
        while match is not None:
            found = True
            start = match.start()
            clause_start = words.rfind(_BREAK, 0, start) + 1
            if not fact.negatable or not is_negated(words[clause_start:start]):
                given.add(fact.key)
                break
            match = fact.pattern.search(words, start + 1)
        if found and fact.key not in given:
            negated.add(fact.key)
    return frozenset(given), frozenset(negated)


def facts_given(key_facts: Sequence[Mapping], messages: Sequence[str]) -> FactsTranscript:
    """The participant's messages, in order (theirs only) -> each key fact given or not,
    and first given in which message (rules in the module docstring)."""
    compiled = compile_facts(key_facts)
    keys = [fact.key for fact in compiled]
    first: dict[str, int] = {}
    negated_somewhere: set[str] = set()
    turns: list[TurnFacts] = []
    for turn, text in enumerate(messages, start=1):
        given, negated = facts_in_message(compiled, text)
        new = given - first.keys()
        for key in new:
            first[key] = turn
        negated_somewhere |= negated
        turns.append(
            TurnFacts(
                turn=turn,
                given=tuple(k for k in keys if k in given),
                first=tuple(k for k in keys if k in new),
                negated=tuple(k for k in keys if k in negated),
            )
        )
    return FactsTranscript(
        facts=tuple(
            FactResult(
                key=key,
                given=key in first,
                first_turn=first.get(key),
                negated_only=key not in first and key in negated_somewhere,
            )
            for key in keys
        ),
        turns=tuple(turns),
    )


def fact_results(
    compiled: Sequence[CompiledFact], messages: Iterable[str]
) -> tuple[FactResult, ...]:
    """`facts_given(...).facts` from facts compiled once (compile_facts), without the
    per-message detail: the analysis runs it on every chat of a study."""
    first: dict[str, int] = {}
    negated_somewhere: set[str] = set()
    for turn, text in enumerate(messages, start=1):
        given, negated = facts_in_message(compiled, text)
        for key in given:
            first.setdefault(key, turn)
        negated_somewhere |= negated
    return tuple(
        FactResult(
            key=fact.key,
            given=fact.key in first,
            first_turn=first.get(fact.key),
            negated_only=fact.key not in first and fact.key in negated_somewhere,
        )
        for fact in compiled
    )
