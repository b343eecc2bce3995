from __future__ import annotations

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from studyapp.scoring.conditions import (
    SCORER_VERSION,
    conditions_part,
    matched_conditions,
    max_edits,
    names_any_condition,
    normalize,
)


def test_it_matches_regardless_of_case_and_punctuation():
    answer = "I think it's a HEART-ATTACK, or maybe unstable angina!"
    assert matched_conditions(answer, ["heart attack", "Unstable Angina", "pericarditis"]) == [
        "heart attack",
        "Unstable Angina",
    ]


def test_it_returns_gold_terms_in_gold_order_and_once():
    answer = "pneumothorax? pulmonary embolism. Pulmonary embolism again"
    assert matched_conditions(
        answer, ["pulmonary embolism", "pneumothorax", "Pulmonary  Embolism"]
    ) == ["pulmonary embolism", "pneumothorax"]


@pytest.mark.parametrize(
    ("length", "edits"), [(1, 0), (4, 0), (5, 1), (9, 1), (10, 2), (24, 4), (25, 5), (35, 7)]
)
def test_it_allows_a_fifth_of_the_term_length_in_edits_rounded_down(length, edits):
    assert max_edits("x" * length) == edits


def test_it_accepts_spelling_variants_within_the_edit_budget():
    # 24 characters: 4 edits allowed; American spelling is one deletion away.
    assert matched_conditions("a subarachnoid hemorrhage", ["subarachnoid haemorrhage"]) == [
        "subarachnoid haemorrhage"
    ]
    # "migrane" is one deletion from "migraine" (8 characters: 1 edit).
    assert matched_conditions("probably a migrane", ["migraine"]) == ["migraine"]
    # Two edits are too many for an 8-character term.
    assert matched_conditions("probably a mgrane", ["migraine"]) == []


def test_a_stricter_threshold_refuses_what_the_default_accepts():
    assert matched_conditions("a migrane", ["migraine"], threshold=0.0) == []
    assert matched_conditions("a migraine", ["migraine"], threshold=0.0) == ["migraine"]


def test_it_searches_inside_words_as_helpmed_did():
    # HELPMed's rule is a substring search; its published labels depend on it, so the
    # short gold term "TIA" is found inside "potential" exactly as in their scoring.
    assert matched_conditions("a potential problem", ["TIA"]) == ["TIA"]
    assert matched_conditions("maybe kidney stones", ["kidney stone"]) == ["kidney stone"]


def test_it_tolerates_apostrophes_accents_and_line_breaks_as_edits():
    assert matched_conditions("crohns disease", ["Crohn's disease"]) == ["Crohn's disease"]
    assert matched_conditions("M\u00e9ni\u00e8re\u2019s disease", ["menieres disease"]) == [
        "menieres disease"
    ]
    assert matched_conditions("deep\n vein   thrombosis", ["deep vein thrombosis"]) == [
        "deep vein thrombosis"
    ]


def test_it_finds_nothing_in_an_empty_answer_or_with_blank_terms():
    assert matched_conditions("", ["migraine"]) == []
    assert matched_conditions("  ...  ", ["migraine"]) == []
    assert matched_conditions("migraine", ["", "  ", "--"]) == []


def test_a_synonym_counts_as_its_gold_term():
    synonyms = {"Myocardial Infarction": ["heart attack", "MI"]}
    gold = ["myocardial infarction", "angina"]
    assert matched_conditions("a heart atack", gold, synonyms=synonyms) == [
        "myocardial infarction"
    ]
    assert matched_conditions("could be an MI.", gold, synonyms=synonyms) == [
        "myocardial infarction"
    ]


def test_a_short_abbreviation_must_stand_as_a_word():
    synonyms = {"pulmonary embolism": ["PE"]}
    assert matched_conditions("I feel pretty bad", ["pulmonary embolism"], synonyms=synonyms) == []
    assert matched_conditions("(PE) maybe", ["pulmonary embolism"], synonyms=synonyms) == [
        "pulmonary embolism"
    ]


def test_a_synonym_for_a_term_not_in_the_gold_list_is_ignored():
    assert matched_conditions("heart attack", ["angina"], synonyms={"mi": ["heart attack"]}) == []


def test_conditions_part_is_the_text_after_the_second_marker():
    assert conditions_part("1) A&E\n\n2) Probably meningitis.") == " Probably meningitis."
    assert conditions_part("1. A&E\n2. Meningitis") == " Meningitis"
    # "2)" wins over an earlier "2." (HELPMed's order), and no marker keeps everything.
    assert conditions_part("Take 2.5 mg. 2) Migraine") == " Migraine"
    assert conditions_part("Just migraine") == "Just migraine"


def test_two_part_scoring_ignores_the_first_answer():
    text = "1) Migraine clinic, routine GP\n2) Tension headache"
    assert matched_conditions(text, ["migraine", "tension headache"]) == [
        "migraine",
        "tension headache",
    ]
    assert matched_conditions(text, ["migraine", "tension headache"], two_part=True) == [
        "tension headache"
    ]


def test_names_any_condition_is_true_when_one_term_matches():
    assert names_any_condition("probably sciatica", ["slipped disc", "sciatica"])
    assert not names_any_condition("no idea", ["slipped disc", "sciatica"])


def test_normalize_collapses_punctuation_to_single_spaces():
    assert normalize("  Heart--Attack!!  (MI) ") == "heart attack mi"


def test_the_scorer_version_fits_the_answer_field():
    assert 0 < len(SCORER_VERSION) <= 40


_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12)


@given(term=st.lists(_words, min_size=1, max_size=3).map(" ".join), before=_words, after=_words)
def test_a_term_surrounded_by_other_words_is_always_found(term, before, after):
    answer = f"{before.upper()}, {term.title()}; {after}"
    assert matched_conditions(answer, [term]) == [term]


@given(answer=st.text(max_size=80), terms=st.lists(st.text(max_size=20), max_size=5))
def test_matches_are_always_a_subset_of_the_gold_terms(answer, terms):
    matched = matched_conditions(answer, terms)
    assert all(term in terms for term in matched)
    assert len(matched) == len({" ".join(t.lower().split()) for t in matched})


@given(answer=st.text(max_size=80), terms=st.lists(_words, max_size=5))
def test_a_larger_threshold_never_matches_fewer_terms(answer, terms):
    strict = set(matched_conditions(answer, terms, threshold=0.1))
    assert strict <= set(matched_conditions(answer, terms, threshold=0.3))


_near = st.text(alphabet="abc d", max_size=40)


@given(answer=_near, term=st.text(alphabet="abc d", min_size=1, max_size=16))
def test_the_fast_search_finds_exactly_what_a_plain_fuzzy_search_finds(answer, term):
    # The pigeonhole windows and the LCS bound only skip work: compare with regex alone.
    edits = max_edits(term)
    plain = regex.search(f"(?:{regex.escape(term)}){{e<={edits}}}", answer) is not None
    has_alnum = any(ch.isalnum() for ch in term) and any(ch.isalnum() for ch in answer)
    assert bool(matched_conditions(answer, [term])) == (plain and has_alnum)
