from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studyapp.scoring.dispositions import disposition_outcome, is_safe, signed_distance


@pytest.mark.parametrize(
    ("answer", "gold", "outcome"),
    [(3, 3, "exact"), (4, 3, "over"), (1, 3, "under"), (0, 0, "exact"), (4, 0, "over")],
)
def test_it_classifies_the_answer_against_the_gold_level(answer, gold, outcome):
    assert disposition_outcome(answer, gold) == outcome


def test_signed_distance_is_positive_for_over_triage():
    assert signed_distance(4, 2) == 2
    assert signed_distance(0, 2) == -2


@given(answer=st.integers(0, 4), gold=st.integers(0, 4))
def test_outcome_agrees_with_the_sign_of_the_distance(answer, gold):
    distance = signed_distance(answer, gold)
    expected = {0: "exact", 1: "over", -1: "under"}[(distance > 0) - (distance < 0)]
    assert disposition_outcome(answer, gold) == expected


def test_an_answer_at_or_above_the_gold_acuity_is_safe():
    assert is_safe(3, 3) and is_safe(4, 3)
    assert not is_safe(2, 3)


@given(answer=st.integers(0, 4), gold=st.integers(0, 4))
def test_safe_means_not_under_triaged(answer, gold):
    assert is_safe(answer, gold) == (disposition_outcome(answer, gold) != "under")
