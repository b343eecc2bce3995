"""Reference labels as rows (ReferenceLabel): written with every label and adjudication
that changes an item's reference, in step with answer_references, rebuilt on demand."""

from __future__ import annotations

import importlib
import threading
import time

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.participation.enrolment import participant_withdraw
from studyapp.ratings import selectors
from studyapp.ratings.decisions import Decision, DecisionError
from studyapp.ratings.models import RatingAssignment, RatingItem, ReferenceLabel
from studyapp.ratings.services.labels import adjudication_save, label_save
from studyapp.ratings.services.references import reference_labels_rebuild
from studyapp.ratings.services.rounds import round_create
from tests.conftest import require
from tests.ratings.dataset import R1, R2, decision, make_rated_study


@pytest.fixture
def dealt(rated, alice):
    round_create(study=rated.study, name="R", created_by=alice, double_share=1, seed=11)
    return rated


def item_of(rated, name) -> RatingItem:
    return RatingItem.objects.get(answer=rated.answers[name])


def label(rated, rater, name, conditions, flags=frozenset(), reason=""):
    assignment = RatingAssignment.objects.get(rater=rater, item=item_of(rated, name))
    return label_save(assignment=assignment, decision=decision(conditions, flags), reason=reason)


def label_all(rated):
    for rater, marks in ((rated.r1, R1), (rated.r2, R2)):
        for name, (conditions, flags) in marks.items():
            label(rated, rater, name, conditions, flags)


def rows(study) -> dict[int, tuple]:
    return {
        row.answer_id: (
            row.item_id,
            row.source,
            row.conditions_correct,
            row.matched_conditions,
            row.matched_red_flags,
        )
        for row in ReferenceLabel.objects.filter(item__round__study=study)
    }


def computed(study) -> dict[int, tuple]:
    return {
        answer_id: (
            ref.item_id,
            ref.source,
            ref.conditions_correct,
            list(ref.matched_conditions),
            list(ref.matched_red_flags),
        )
        for answer_id, ref in selectors.answer_references(study=study).items()
    }


def test_one_label_makes_no_reference_two_agreeing_labels_do(dealt):
    a1 = dealt.answers["A1"]
    label(dealt, dealt.r1, "A1", {"appendicitis"})
    assert not ReferenceLabel.objects.exists()
    label(dealt, dealt.r2, "A1", {"appendicitis"})
    reference = ReferenceLabel.objects.get()
    assert (reference.answer, reference.item, reference.source) == (
        a1,
        item_of(dealt, "A1"),
        "agreed",
    )
    assert (reference.conditions_correct, reference.matched_conditions) == (True, ["appendicitis"])
    # The matcher read "appendicitis, and no fever" as naming the red flag; the raters not.
    assert (a1.matched_red_flags, reference.matched_red_flags) == (["fever"], [])


def test_rows_follow_every_label_and_adjudication(dealt, frank):
    label_all(dealt)
    a = dealt.answers
    assert set(rows(dealt.study)) == {a["A1"].pk, a["A3"].pk}  # A2 is disputed
    assert rows(dealt.study) == computed(dealt.study)
    adjudication_save(
        item=item_of(dealt, "A2"), user=frank, decision=decision(set(), {"fever"}), reason="abc"
    )
    assert rows(dealt.study)[a["A2"].pk][1:] == ("adjudicated", False, [], ["fever"])
    # A later revision that disagrees again takes the reference away until adjudicated.
    label(dealt, dealt.r1, "A2", {"ovarian torsion", "appendicitis"}, {"fever"}, "second look")
    assert a["A2"].pk not in rows(dealt.study)
    # A revision that breaks a consensus does too, and agreeing again brings it back.
    label(dealt, dealt.r2, "A3", set(), reason="not named")
    assert a["A3"].pk not in rows(dealt.study)
    label(dealt, dealt.r1, "A3", set(), reason="not named")
    assert rows(dealt.study)[a["A3"].pk][1:] == ("agreed", False, [], [])
    assert rows(dealt.study) == computed(dealt.study)


def test_a_failed_label_leaves_the_rows_as_they_were(dealt):
    label_all(dealt)
    before = rows(dealt.study)
    assignment = RatingAssignment.objects.get(rater=dealt.r1, item=item_of(dealt, "A1"))
    with pytest.raises(DecisionError):
        label_save(assignment=assignment, decision=Decision(conditions_named=("gastritis",)))
    assert rows(dealt.study) == before


def test_transcript_items_and_model_alone_outputs_make_no_rows(rated, alice):
    alone = EvaluationRun.objects.create(study=rated.study, key="alone", kind="model_alone")
    EvaluationItem.objects.create(
        run=alone,
        scenario=rated.scenario,
        item_key="belly",
        status="succeeded",
        parsed={"conditions_text": "appendicitis"},
        matched_conditions=["appendicitis"],
        conditions_correct=True,
    )
    round_create(
        study=rated.study,
        name="R",
        created_by=alice,
        double_share=1,
        humans=False,
        evaluation_run_ids=[alone.pk],
        seed=3,
    )
    (item,) = RatingItem.objects.all()
    for rater in (rated.r1, rated.r2):
        assignment = RatingAssignment.objects.get(rater=rater, item=item)
        label_save(assignment=assignment, decision=decision({"appendicitis"}, set()))
    assert not ReferenceLabel.objects.exists()


def test_a_simulated_participants_answer_gets_its_row_through_its_evaluation_item(rated, alice):
    run = EvaluationRun.objects.create(study=rated.study, key="sim", kind="simulated")
    EvaluationItem.objects.create(
        run=run,
        scenario=rated.scenario,
        item_key="belly",
        status="succeeded",
        task=rated.simulated_answer.task,
    )
    round_create(
        study=rated.study,
        name="R",
        created_by=alice,
        double_share=1,
        humans=False,
        evaluation_run_ids=[run.pk],
        seed=3,
    )
    (item,) = RatingItem.objects.filter(kind="answer")
    for rater in (rated.r1, rated.r2):
        assignment = RatingAssignment.objects.get(rater=rater, item=item)
        label_save(assignment=assignment, decision=decision(set(), set()))
    reference = ReferenceLabel.objects.get()
    assert (reference.answer, reference.conditions_correct) == (rated.simulated_answer, False)


def test_a_label_reads_only_its_own_items_labels(dealt):
    label(dealt, dealt.r1, "A1", {"appendicitis"})
    label(dealt, dealt.r1, "A2", {"appendicitis"})
    assignment = RatingAssignment.objects.get(rater=dealt.r2, item=item_of(dealt, "A1"))
    with CaptureQueriesContext(connection) as queries:
        label_save(assignment=assignment, decision=decision({"appendicitis"}, set()))
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('SELECT "ratings_label"') and "ratings_ratinground" in q["sql"]
    ]
    # The refresh's read of current labels is the item's, not the whole study's.
    assert reads and all('"ratings_label"."item_id" IN' in sql for sql in reads)
    # The label (5); the refresh: the answer's lock, study, items, states (3), row,
    # insert; savepoints.
    assert len(queries.captured_queries) <= 17
    assert ReferenceLabel.objects.count() == 1


def test_the_rebuild_repairs_rows_made_around_the_services(dealt, frank, capsys):
    label_all(dealt)
    a = dealt.answers
    ReferenceLabel.objects.filter(answer=a["A1"]).update(conditions_correct=False)
    ReferenceLabel.objects.filter(answer=a["A3"]).delete()
    ReferenceLabel.objects.create(
        answer=a["A2"], item=item_of(dealt, "A2"), source="agreed", conditions_correct=True
    )
    result = reference_labels_rebuild(study=dealt.study)
    assert (result.created, result.updated, result.deleted, result.unchanged) == (1, 1, 1, 0)
    assert rows(dealt.study) == computed(dealt.study)
    call_command("rebuild_reference_labels", dealt.study.slug)
    assert "rated: 0 created, 0 corrected, 0 deleted, 2 unchanged" in capsys.readouterr().out


def test_the_data_migration_builds_the_same_rows(dealt, frank):
    label_all(dealt)
    adjudication_save(
        item=item_of(dealt, "A2"), user=frank, decision=decision(set(), {"fever"}), reason="abc"
    )
    expected = rows(dealt.study)
    ReferenceLabel.objects.all().delete()
    migration = importlib.import_module("studyapp.ratings.migrations.0003_build_reference_labels")
    migration.build_reference_labels(apps, None)
    assert rows(dealt.study) == expected


def test_a_withdrawal_takes_the_row_with_the_answer(dealt):
    label_all(dealt)
    participant_withdraw(participant_id=dealt.answers["A1"].task.participant_id)
    assert set(rows(dealt.study)) == {dealt.answers["A3"].pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_raters_saving_together_leave_the_agreed_row(dave, erin, frank, alice):
    """The second label waits for the first one's transaction, then its refresh sees
    both labels: without that wait each would see only its own and write no row."""
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
    rated = make_rated_study(investigator=alice, rater1=dave, rater2=erin, adjudicator=frank)
    round_create(study=rated.study, name="R", created_by=alice, double_share=1, seed=11)
    first = RatingAssignment.objects.get(rater=rated.r1, item=item_of(rated, "A1"))
    second = RatingAssignment.objects.get(rater=rated.r2, item=item_of(rated, "A1"))
    agreed = decision({"appendicitis"}, set())
    ready, release = threading.Event(), threading.Event()
    errors: list = []

    def run(fn) -> None:
        try:
            fn()
        except Exception as exc:  # asserted empty below
            errors.append(exc)
        finally:
            connection.close()

    def hold() -> None:
        with transaction.atomic():
            label_save(assignment=first, decision=agreed)
            ready.set()
            release.wait(10)

    holder = threading.Thread(target=run, args=(hold,), daemon=True)
    holder.start()
    assert ready.wait(10)
    racer = threading.Thread(
        target=run, args=(lambda: label_save(assignment=second, decision=agreed),), daemon=True
    )
    racer.start()
    _wait_for_a_lock_waiter()
    release.set()
    for thread in (holder, racer):
        thread.join(10)
    assert errors == []
    reference = ReferenceLabel.objects.get()
    assert (reference.answer_id, reference.source) == (rated.answers["A1"].pk, "agreed")


def _wait_for_a_lock_waiter() -> None:
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= 1:
                return
            time.sleep(0.02)
    raise AssertionError("the second label never waited for the first")
