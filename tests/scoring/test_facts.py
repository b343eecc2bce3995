from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studyapp.scoring.conditions import normalize
from studyapp.scoring.facts import (
    CLAUSE_BREAK_WORDS,
    FACTS_MATCHER_VERSION,
    NEGATION_CUES,
    NEGATION_WINDOW,
    STEM_MIN_CHARS,
    FactResult,
    TurnFacts,
    clauses,
    compile_facts,
    fact_results,
    facts_given,
    facts_in_message,
    is_negated,
    is_pertinent_negative,
)


def fact(key: str, *patterns: str, text: str = "") -> dict:
    return {"key": key, "text": text or "the key fact", "patterns": list(patterns)}


def given_keys(facts: list[dict], text: str) -> set[str]:
    return set(facts_in_message(compile_facts(facts), text)[0])


FEVER = [fact("fever", "fever", "temperature", "38")]


def test_the_version_is_named():
    assert FACTS_MATCHER_VERSION == "facts-words-1"


@pytest.mark.parametrize(
    ("text", "given"),
    [
        ("I have a fever", True),
        ("FEVER!!", True),
        ("my temperature is 38.3°C", True),  # "38.3" stays one clause: "38 3"
        ("fevers on and off", True),  # "fever" has five letters: a stem
        ("no fever", False),
        ("I don't have a fever", False),
        ("I haven't had any fever at all", False),
        ("never had a temperature", False),
        ("no cough, but a fever since last night", True),  # a comma ends the negation
        ("no cough but a fever", True),  # so does "but"
        ("no cough and a fever", True),  # and "and"
        ("not sure if it is a fever", True),  # "not sure" is no negation
        ("I don't know if I have a temperature", True),  # nor "dont know"
        ("no one in my house has been ill, I have a fever", True),
        ("no problems breathing or a fever", False),
        # Past the five-word window: a limit of the rule, kept here as the case it is.
        ("no problems with breathing or eating or a fever", True),
        ("I have no idea; fever", True),
        ("could it be the fever?", True),  # questions count
        ("feverish", True),  # "fever" is a stem
        ("the temp is 380", False),  # "38" is short: whole word
        ("138 degrees", False),  # and the left side is always a word boundary
        ("", False),
    ],
)
def test_it_applies_the_documented_rule(text, given):
    facts = [fact("fever", "fever", "temperature", "38")]
    assert ("fever" in given_keys(facts, text)) is given


@pytest.mark.parametrize(
    ("pattern", "word", "found"),
    [
        ("arm", "arm", True),
        ("arm", "arms", True),
        ("arm", "army", False),
        ("arm", "forearm", False),
        ("wee", "week", False),
        ("smok", "smoker", True),
        ("smok", "smoking", True),
        ("smok", "smok", True),
        ("diabet", "diabetic", True),
        ("sick", "sickness", True),
        ("38", "38", True),
        ("38", "385", False),
        ("blood thinner", "blood thinners", True),
        ("blood thinner", "bloodthinner", False),
        ("breathe in", "breathe into", False),  # "in" is short: a whole word
        ("won't go", "wont go", True),
        ("won't go", "won\u2019t go away", True),
        ("seventy-nine", "seventy nine", True),
        ("Crohn's", "crohns", True),
        ("café", "CAFE", True),
    ],
)
def test_words_are_whole_except_a_long_last_one(pattern, word, found):
    assert (given_keys([fact("f", pattern)], f"well, {word}") == {"f"}) is found


def test_stems_start_at_four_characters():
    assert STEM_MIN_CHARS == 4
    assert given_keys([fact("f", "burn")], "burning") == {"f"}
    assert given_keys([fact("f", "bur")], "burning") == set()


def test_the_facts_text_is_a_phrase_too():
    facts = [{"key": "k", "text": "Hit her head", "patterns": ["forehead"]}]
    assert given_keys(facts, "I hit her head, sorry") == {"k"}


def test_a_phrase_never_spans_a_clause():
    assert given_keys([fact("f", "left arm")], "it hurts on the left. arm is fine") == set()
    assert given_keys([fact("f", "left arm")], "my left arm") == {"f"}


def test_a_negation_reaches_only_the_window():
    assert NEGATION_WINDOW == 5
    assert is_negated("not a b c d")
    assert not is_negated("not a b c d e")
    assert not is_negated("not a but c")
    assert is_negated("a but not c")
    assert not is_negated("im not sure")
    assert is_negated("im not sure not")


def test_a_phrase_that_holds_a_negation_is_not_negated_by_it():
    facts = [fact("no-faint", "didn't faint", "not faint")]
    assert given_keys(facts, "I didn't faint") == {"no-faint"}
    assert given_keys(facts, "I did not faint") == {"no-faint"}


def test_overlapping_phrases_each_get_their_window():
    # The long phrase is negated; the short one inside it starts past the window.
    facts = [fact("f", "a1 b1 c1 d1 e1 f1", "f1")]
    assert given_keys(facts, "no a1 b1 c1 d1 e1 f1") == {"f"}


def test_a_pertinent_negative_counts_however_it_is_said():
    # Its text holds a negation: telling the model "no numbness" is telling it.
    facts = [
        {
            "key": "no-leg-symptoms",
            "text": "No pain, numbness or weakness in the legs.",
            "patterns": ["leg", "numb"],
        },
        fact("sofa", "sofa"),
    ]
    assert given_keys(facts, "I have no numbness in my legs and no sofa") == {"no-leg-symptoms"}
    assert given_keys(facts, "my legs feel fine") == {"no-leg-symptoms"}
    assert is_pertinent_negative("It doesn't ease with rest")
    assert not is_pertinent_negative("Nothingness is a notion")  # whole words only


def test_it_reports_facts_mentioned_only_negated():
    result = facts_given(FEVER, ["no fever", "ok"])
    assert result.facts == (FactResult("fever", given=False, first_turn=None, negated_only=True),)
    result = facts_given(FEVER, ["no fever", "actually a fever"])
    assert result.facts == (FactResult("fever", given=True, first_turn=2, negated_only=False),)


def test_it_gives_each_fact_its_first_turn_in_fact_order():
    facts = [
        fact("spreads", "arm", "jaw"),
        fact("sweat", "sweat", "sick"),
        fact("risk", "smok", "diabet"),
        fact("never", "father"),
    ]
    messages = ["my chest hurts", "I'm sweating and my jaw aches", "I smoke. Also my arm."]
    result = facts_given(facts, messages)
    assert [(f.key, f.given, f.first_turn) for f in result.facts] == [
        ("spreads", True, 2),
        ("sweat", True, 2),
        ("risk", True, 3),
        ("never", False, None),
    ]
    assert result.turns == (
        TurnFacts(turn=1, given=(), first=(), negated=()),
        TurnFacts(turn=2, given=("spreads", "sweat"), first=("spreads", "sweat"), negated=()),
        TurnFacts(turn=3, given=("spreads", "risk"), first=("risk",), negated=()),
    )
    assert result.given == ("spreads", "sweat", "risk")
    assert result.share == 0.75


def test_a_scenario_without_key_facts_has_no_share():
    result = facts_given([], ["anything"])
    assert result.facts == () and result.share is None
    assert facts_given(FEVER, []).share == 0.0


def test_a_fact_with_no_usable_phrase_is_never_given():
    result = facts_given([{"key": "k", "text": "!!", "patterns": ["--"]}], ["!! --"])
    assert result.facts == (FactResult("k", given=False, first_turn=None, negated_only=False),)


# --- properties -----------------------------------------------------------------------

VOCABULARY = [
    "no", "not", "sure", "dont", "know", "and", "but", "or", "i", "have", "a",
    "arm", "arms", "army", "smok", "smoker", "sweat", "sweating", "pain", "fever", "x",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", ", ", ". ", " - ", "! ", "\n", "'", "\u2019"]
_word = st.sampled_from(VOCABULARY)
_text = st.lists(st.tuples(_word, st.sampled_from(SEPARATORS)), max_size=14).map(
    lambda parts: "".join(w + s for w, s in parts)
)
_phrase = st.lists(_word, min_size=1, max_size=2).map(" ".join)


def _last_word_ok(word: str, last: str) -> bool:
    if len(last) >= STEM_MIN_CHARS:
        return word.startswith(last)
    return word in (last, last + "s")


def reference(phrases: list[str], text: str) -> str:
    """The rule written plainly: every clause, every position, every phrase."""
    found = False
    for clause in clauses(text):
        words = clause.split()
        for phrase in phrases:
            wanted = normalize(phrase).split()
            if not wanted:
                continue
            for i in range(len(words) - len(wanted) + 1):
                here = words[i : i + len(wanted)]
                if here[:-1] == wanted[:-1] and _last_word_ok(here[-1], wanted[-1]):
                    found = True
                    if not is_negated(" ".join(words[:i])):
                        return "given"
    return "negated" if found else "absent"


@given(phrases=st.lists(_phrase, min_size=1, max_size=3), text=_text)
def test_the_fast_matcher_agrees_with_the_plain_rule(phrases, text):
    given_, negated = facts_in_message(compile_facts([fact("f", *phrases, text="x y z")]), text)
    # (The text "x y z" holds no negation cue, so the fact is negatable.)
    expected = reference([*phrases, "x y z"], text)
    assert ("given" if given_ else "negated" if negated else "absent") == expected


@given(text=st.text(max_size=60))
def test_clauses_joined_are_the_condition_matchers_normalisation(text):
    assert " ".join(clauses(text)) == normalize(text)


_content_phrase = st.lists(
    st.sampled_from([w for w in VOCABULARY if w not in NEGATION_CUES | CLAUSE_BREAK_WORDS]),
    min_size=1,
    max_size=2,
).map(" ".join)


@given(phrase=_content_phrase, text=_text)
def test_a_phrase_said_plainly_is_given_and_after_no_it_is_not(phrase, text):
    facts = [fact("f", phrase)]
    assert given_keys(facts, f"{text}. {phrase}") == {"f"}
    assert given_keys(facts, f"no {phrase}") == set()
    assert given_keys(facts, f"no, {phrase}") == {"f"}


@given(messages=st.lists(_text, max_size=5), more=st.lists(_text, max_size=3))
def test_later_messages_never_change_an_earlier_first_turn(messages, more):
    facts = [fact("a", "arm"), fact("s", "smok", "sweat"), fact("f", "fever")]
    before = facts_given(facts, messages)
    after = facts_given(facts, [*messages, *more])
    for old, new in zip(before.facts, after.facts, strict=True):
        if old.given:
            assert new.first_turn == old.first_turn
        assert new.given or not old.given
    assert after.turns[: len(messages)] == before.turns


@given(messages=st.lists(_text, max_size=5))
def test_the_first_turn_is_the_first_message_that_gives_it_alone(messages):
    facts = [fact("a", "arm"), fact("s", "smok pain", "sweat")]
    result = facts_given(facts, messages)
    for f in result.facts:
        alone = [i for i, m in enumerate(messages, 1) if f.key in given_keys(facts, m)]
        assert f.first_turn == (alone[0] if alone else None)


@given(messages=st.lists(_text, max_size=5))
def test_the_fast_results_are_facts_givens(messages):
    facts = [fact("a", "arm"), fact("s", "smok pain", "sweat"), fact("n", "no fever", "x")]
    assert fact_results(compile_facts(facts), messages) == facts_given(facts, messages).facts


@given(text=_text)
def test_case_does_not_matter(text):
    facts = [fact("a", "arm"), fact("s", "Smok", "sweat")]
    assert given_keys(facts, text.upper()) == given_keys(facts, text.lower())
