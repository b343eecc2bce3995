"""The agreement report on the worked example (tests/ratings/dataset.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from studyapp.ratings import reports
from studyapp.ratings.decisions import Decision
from studyapp.ratings.models import Label, RatingAssignment
from studyapp.ratings.services.labels import adjudication_save, label_save
from studyapp.ratings.services.rounds import round_create
from tests.analysis.scored import scored_answer
from tests.factories import make_participant
from tests.ratings.test_labels import item_of, label_all


@pytest.fixture
def adjudicated(rated, alice, frank):
    round_create(study=rated.study, name="R", created_by=alice, double_share=1, seed=11)
    label_all(rated)
    item = item_of(rated, "A2")
    adjudication_save(
        item=item,
        user=frank,
        decision=None,
        reason="the answer names a fever",
        chosen_label=Label.objects.get(item=item, rater=rated.r1),
    )
    return rated


def test_the_matcher_reads_the_answers_as_the_example_says(rated):
    got = {n: (a.matched_conditions, a.matched_red_flags) for n, a in rated.answers.items()}
    assert got == {
        "A1": (["appendicitis"], ["fever"]),
        "A2": (["ovarian torsion"], ["fever"]),
        "A3": ([], []),
    }


def test_between_raters_every_gold_term_pooled(adjudicated):
    report = reports.agreement_report(study=adjudicated.study, resamples=200)
    answers = report.answers
    assert (answers.units, answers.observed) == (9, pytest.approx(8 / 9))
    assert answers.cohen.value == pytest.approx(30 / 39)
    assert list(answers.cohen_pairs) == [("R1", "R2")]
    assert answers.fleiss.value == pytest.approx(0.7662, abs=1e-4)
    assert answers.alpha.value == pytest.approx(0.7792, abs=1e-4)
    assert report.statuses == {"consensus": 2, "adjudicated": 1}


def test_the_matcher_against_the_adjudicated_labels(adjudicated):
    report = reports.agreement_report(study=adjudicated.study, resamples=200)
    m = report.matcher
    # tp: A1 appendicitis, A2 ovarian torsion, A2 fever; fp: A1 fever; fn: A3 appendicitis.
    assert (m.tp, m.fp, m.fn, m.tn) == (3, 1, 1, 4)
    assert (m.precision.value, m.recall.value) == (0.75, 0.75)
    assert m.kappa.value == pytest.approx(0.55)  # po 7/9, pe 41/81
    assert [key for key, _ in report.matcher_by_scenario] == ["belly"]
    correct = report.matcher_correct
    assert (correct.tp, correct.fp, correct.fn, correct.tn) == (2, 0, 1, 0)
    terms = {(row.list_name, row.term): row for row in report.terms}
    fever = terms[("red flag", "fever")]
    assert (fever.matcher.tp, fever.matcher.fp) == (1, 1)
    assert fever.raters.units == 3 and fever.raters.observed == pytest.approx(2 / 3)
    appendicitis = terms[("condition", "appendicitis")]
    assert (appendicitis.matcher.recall.value, appendicitis.raters.observed) == (0.5, 1.0)


def test_the_report_is_cached_until_a_label_arrives(adjudicated, django_assert_max_num_queries):
    cache.clear()
    first = reports.agreement_report(study=adjudicated.study, resamples=50)
    with django_assert_max_num_queries(3):
        assert reports.agreement_report(study=adjudicated.study, resamples=50) == first


def test_the_queries_do_not_grow_with_the_items(adjudicated, alice, django_assert_num_queries):
    # 3 for the fingerprint, then items, labels, adjudications, raters' codes, scenarios.
    with django_assert_num_queries(8):
        reports.agreement_report(study=adjudicated.study, resamples=10, seed=1)
    llm = adjudicated.answers["A1"].task.participant.arm
    for _ in range(5):
        participant = make_participant(adjudicated.study, arm=llm)
        scored_answer(participant, adjudicated.scenario, 1, "ae", "appendicitis")
    round_create(study=adjudicated.study, name="R2", created_by=alice, double_share=1)
    for assignment in RatingAssignment.objects.filter(item__round__name="R2"):
        label_save(assignment=assignment, decision=Decision(conditions_named=("appendicitis",)))
    with django_assert_num_queries(8):
        report = reports.agreement_report(study=adjudicated.study, resamples=10, seed=2)
    assert report.answers.units == 9 + 5 * 3
