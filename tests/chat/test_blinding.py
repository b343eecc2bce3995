"""The blinding guard's pure rules: whole-word, case-insensitive terms; streaming equals whole."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from studyapp.chat.blinding import GuardFilter, clean_terms, displayed, occurrences

TERMS = ["Llama", "Meta AI", "Llama 3", "OpenAI"]


def test_terms_are_found_as_whole_words_whatever_their_case():
    text = "I am LLAMA 3, made by meta  AI; metabolic rates and llamas are not terms."
    found = [(o.term, text[o.start : o.end]) for o in occurrences(text, TERMS)]
    assert found == [("Llama 3", "LLAMA 3"), ("Meta AI", "meta  AI")]


def test_replacement_shows_a_neutral_word_and_flag_only_shows_the_text():
    text = "As Llama, trained by OpenAI (not Meta AI), I suggest rest."
    assert displayed(text, TERMS, "the assistant") == (
        "As the assistant, trained by the assistant (not the assistant), I suggest rest."
    )
    assert displayed(text, TERMS, None) == text
    assert displayed(text, [], "x") == text


def test_clean_terms_drops_blanks_and_duplicates_longest_first():
    assert clean_terms([" llama ", "", "Llama", "Llama  3", "  "]) == ["Llama 3", "llama"]


def stream(text: str, cuts: list[int], terms, replacement) -> str:
    guard = GuardFilter(terms, replacement)
    pieces, last = [], 0
    for cut in sorted(set(cuts)):
        pieces.append(guard.feed(text[last:cut]))
        last = cut
    pieces.append(guard.feed(text[last:]))
    pieces.append(guard.flush())
    return "".join(pieces)


def test_a_term_split_across_deltas_is_still_replaced():
    text = "Hello, I am Llama 3 and I cannot see you."
    for cut in range(1, len(text)):
        assert stream(text, [cut], TERMS, "X") == "Hello, I am X and I cannot see you."


WORDS = st.sampled_from(
    [
        "Llama",
        "llama",
        "Llamas",
        "3",
        "Meta",
        "AI",
        "meta-AI",
        "OpenAI",
        "rest",
        " ",
        "  ",
        ",",
        "\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(WORDS, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
    replace=st.booleans(),
)
def test_streamed_in_any_pieces_it_shows_exactly_the_whole_replies_display(words, cuts, replace):
    text = "".join(words)
    replacement = "[name]" if replace else None
    cuts = [c for c in cuts if c <= len(text)]
    assert stream(text, cuts, TERMS, replacement) == displayed(text, TERMS, replacement)
