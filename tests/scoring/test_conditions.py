from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from studyapp.scoring.conditions import matched_conditions, names_any_condition, normalize


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


def test_it_matches_whole_terms_only():
    assert matched_conditions("vaginal thrush", ["angina"]) == []
    assert matched_conditions("a sprained ankle", ["sprain"]) == []


def test_it_accepts_a_plain_plural():
    assert matched_conditions("maybe kidney stones", ["kidney stone"]) == ["kidney stone"]
    assert matched_conditions("two abscesses", ["abscess"]) == ["abscess"]


def test_it_ignores_apostrophes_and_accents():
    assert matched_conditions("crohns disease", ["Crohn's disease"]) == ["Crohn's disease"]
    assert matched_conditions("M\u00e9ni\u00e8re\u2019s disease", ["menieres disease"]) == [
        "menieres disease"
    ]


def test_it_matches_across_line_breaks_and_extra_spaces():
    assert matched_conditions("deep\n vein   thrombosis", ["deep vein thrombosis"]) == [
        "deep vein thrombosis"
    ]


def test_it_finds_nothing_in_an_empty_answer_or_with_blank_terms():
    assert matched_conditions("", ["migraine"]) == []
    assert matched_conditions("  ...  ", ["migraine"]) == []
    assert matched_conditions("migraine", ["", "  ", "--"]) == []


def test_names_any_condition_is_true_when_one_term_matches():
    assert names_any_condition("probably sciatica", ["slipped disc", "sciatica"])
    assert not names_any_condition("no idea", ["slipped disc", "sciatica"])


def test_normalize_collapses_punctuation_to_single_spaces():
    assert normalize("  Heart--Attack!!  (MI) ") == "heart attack mi"


_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12)


@given(term=st.lists(_words, min_size=1, max_size=3).map(" ".join), before=_words, after=_words)
def test_a_term_surrounded_by_other_words_is_always_found(term, before, after):
    answer = f"{before.upper()}, {term.title()}; {after}"
    assert matched_conditions(answer, [term]) == [term]


@given(answer=st.text(max_size=80), terms=st.lists(st.text(max_size=20), max_size=5))
def test_matches_are_always_a_subset_of_the_gold_terms(answer, terms):
    matched = matched_conditions(answer, terms)
    assert all(term in terms for term in matched)
    assert len(matched) == len({normalize(t) for t in matched})
