"""Reading answers out of model text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studyapp.evaluations.science.parsing import (
    Level,
    PatientAnswer,
    parse_disposition,
    parse_final_answer,
    parse_patient_answer,
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


@pytest.mark.parametrize(
    ("text", "code", "conditions", "confidence"),
    [
        ("1) A&E 2) appendicitis 3) Confidence: 70", "ae", "appendicitis", 70),
        (
            "1) A&E\n2) Appendicitis, ovarian torsion\n3) 70/100",
            "ae",
            "Appendicitis, ovarian torsion",
            70,
        ),
        ("1) A&E 2) appendicitis. Confidence: 70%", "ae", "appendicitis", 70),
        ("1) A&E 2) appendicitis, 70%", "ae", "appendicitis", 70),
        ("1) A&E 2) appendicitis 3) Confidence (0-100): 85", "ae", "appendicitis", 85),
        ("1) A&E 2) appendicitis (confidence 7/10)", "ae", "appendicitis", 70),
        ("1) A&E 2) appendicitis 3) I am about 65 percent sure", "ae", "appendicitis", 65),
        (
            "1) Routine GP 2) I'm not confident, maybe a sprain 3) Confidence: 40",
            "routine_gp",
            "I'm not confident, maybe a sprain",
            40,
        ),
        ("1) A&E 2) I think it is appendicitis.", "ae", "I think it is appendicitis", None),
        ("1) A&E 2) appendicitis 3) Confidence: 250", "ae", "appendicitis", None),
        ("1) A&E 2) appendicitis 3) not sure", "ae", "appendicitis", None),
        ("1) A&E 3) Confidence: 60", "ae", "", 60),
        ("1) A&E", "ae", "", None),
        ("I don't know.", None, "", None),
        ("", None, "", None),
    ],
)
def test_it_reads_a_patients_answer_and_confidence(text, code, conditions, confidence):
    assert parse_patient_answer(text, LEVELS) == PatientAnswer(code, conditions, confidence)


def test_an_answer_without_a_disposition_or_conditions_is_incomplete():
    assert parse_patient_answer("1) A&E 2) appendicitis", LEVELS).missing == []
    assert parse_patient_answer("1) A&E 3) Confidence: 60", LEVELS).missing == ["conditions"]
    assert parse_patient_answer("2) appendicitis", LEVELS).missing == ["disposition"]
    # A "2)" with nothing in words after it is no answer, as on the form.
    assert parse_patient_answer("1) I'm not sure 2) - 3) 50", LEVELS).missing == [
        "disposition",
        "conditions",
    ]


def test_a_later_answer_completes_an_earlier_one_part_by_part():
    first = parse_patient_answer("1) A&E 3) Confidence: 60", LEVELS)
    later = parse_patient_answer("2) appendicitis", LEVELS)
    assert first.completed_by(later) == PatientAnswer("ae", "appendicitis", 60)
    changed = parse_patient_answer("1) Routine GP 2) a sprain 3) Confidence: 80", LEVELS)
    assert first.completed_by(changed) == PatientAnswer("routine_gp", "a sprain", 80)


@given(
    st.sampled_from(LEVELS),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,'", min_size=1, max_size=80).filter(
        lambda t: t.strip(" ,") and "confidence" not in t
    ),
    st.integers(min_value=0, max_value=100),
)
def test_the_format_we_ask_the_patient_for_is_always_read(level, conditions, confidence):
    text = f"1) {level.label} 2) {conditions} 3) Confidence: {confidence}"
    answer = parse_patient_answer(text, LEVELS)
    assert answer.disposition_code == level.code
    assert answer.conditions_text == conditions.strip().rstrip(" ,").strip()
    assert answer.confidence == confidence
