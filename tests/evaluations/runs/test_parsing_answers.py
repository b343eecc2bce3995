"""Reading answers out of model text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studyapp.evaluations.parsing import (
    Level,
    parse_disposition,
    parse_final_answer,
    parse_triage_answer,
)

LEVELS = [
    Level("ambulance", "Ambulance", 4),
    Level("ae", "A&E", 3),
    Level("urgent_primary_care", "Urgent Primary Care", 2),
    Level("routine_gp", "Routine GP", 1),
    Level("self_care", "Self-care", 0),
]


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("Reasoning...\nFinal Answer: (B)", "B"),
        ("final answer: c", "C"),
        ("**Final Answer:** (D) Ketotifen eye drops", "D"),
        ("The final answer is A.", "A"),
        ("Final Answer: (X) is the format. ... Final Answer: (C)", "C"),
        ("I think the answer is (B).", "B"),
        ("So we pick (A)", "A"),
        ("Final Answer: (E)", None),
        ("I am not sure.", None),
        ("", None),
    ],
)
def test_it_reads_the_final_answer_letter(text, letter):
    assert parse_final_answer(text) == letter


@given(
    st.sampled_from("ABCD"),
    st.text(alphabet=st.characters(blacklist_characters="()"), max_size=200),
)
def test_the_format_we_ask_for_is_always_read(letter, reasoning):
    assert parse_final_answer(f"{reasoning}\nFinal Answer: ({letter})") == letter


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1) A&E 2) appendicitis", "ae"),
        ("1) Urgent primary care 2) ...", "urgent_primary_care"),
        ("1) Self care. 2) a cold", "self_care"),
        ("1) Call an ambulance 2) stroke; not A&E", "ambulance"),
        ("1) routine GP appointment 2) Go to A&E if worse", "routine_gp"),
        ("Nothing useful", None),
    ],
)
def test_it_reads_the_disposition_from_the_first_part(text, code):
    assert parse_disposition(text, LEVELS) == code


def test_a_two_part_answer_splits_at_the_marker():
    answer = parse_triage_answer("1) A&E 2) Appendicitis, ovarian torsion", LEVELS)
    assert answer.disposition_code == "ae"
    assert answer.conditions_text.strip() == "Appendicitis, ovarian torsion"
