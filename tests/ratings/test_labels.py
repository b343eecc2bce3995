"""Labels and adjudications: append-only history, the queue, the reference labels."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from studyapp.participation.enrolment import participant_withdraw
from studyapp.ratings import selectors
from studyapp.ratings.decisions import Decision, DecisionError
from studyapp.ratings.models import (
    Adjudication,
    DecisionImmutableError,
    Label,
    RatingAssignment,
    RatingItem,
)
from studyapp.ratings.services.labels import adjudication_save, label_save
from studyapp.ratings.services.raters import rater_update
from studyapp.ratings.services.rounds import round_create
from tests.conftest import require
from tests.ratings.dataset import R1, R2, decision


@pytest.fixture
def dealt(rated, alice):
    round_create(study=rated.study, name="R", created_by=alice, double_share=1, seed=11)
    return rated


def item_of(rated, name) -> RatingItem:
    return RatingItem.objects.get(answer=rated.answers[name])


def assignment(rated, rater, name) -> RatingAssignment:
    return RatingAssignment.objects.get(rater=rater, item=item_of(rated, name))


def label_all(rated):
    for rater, marks in ((rated.r1, R1), (rated.r2, R2)):
        for name, (conditions, flags) in marks.items():
            label_save(
                assignment=assignment(rated, rater, name), decision=decision(conditions, flags)
            )


def test_a_revision_is_a_new_label_and_the_latest_is_current(dealt):
    a = assignment(dealt, dealt.r1, "A1")
    first = label_save(assignment=a, decision=decision({"appendicitis"}, set()))
    again = label_save(assignment=a, decision=decision({"appendicitis"}, set()))
    assert again == first  # the same label twice adds nothing
    second = label_save(assignment=a, decision=decision(set(), set()), reason="misread it")
    assert Label.objects.filter(item=a.item).count() == 2
    assert list(Label.objects.current()) == [second]
    assert (second.reason, second.rater, second.created_at >= first.created_at) == (
        "misread it",
        dealt.r1,
        True,
    )


def test_labels_are_append_only_in_the_model_and_in_postgresql(dealt):
    label = label_save(
        assignment=assignment(dealt, dealt.r1, "A1"), decision=decision(set(), set())
    )
    label.reason = "changed"
    with pytest.raises(DecisionImmutableError):
        label.save()
    with pytest.raises(DecisionImmutableError):
        label.delete()
    require(connection.vendor == "postgresql", "the trigger is PostgreSQL's")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Label.objects.filter(pk=label.pk).update(reason="changed")


def test_a_label_must_fit_the_scenario(dealt):
    with pytest.raises(DecisionError, match="not a gold condition"):
        label_save(
            assignment=assignment(dealt, dealt.r1, "A1"),
            decision=Decision(conditions_named=("gastritis",)),
        )
    assert not Label.objects.exists()


def test_statuses_follow_the_labels(dealt):
    states = {s.item_id: s for s, _ in selectors.item_states(study=dealt.study)}
    assert {s.status for s in states.values()} == {"unlabelled"}
    label_save(
        assignment=assignment(dealt, dealt.r1, "A1"), decision=decision({"appendicitis"}, set())
    )
    label_all(dealt)
    states = {s.item_id: s for s, _ in selectors.item_states(study=dealt.study)}
    assert states[item_of(dealt, "A1").pk].status == "consensus"
    assert states[item_of(dealt, "A1").pk].reference == decision({"appendicitis"}, set())
    assert states[item_of(dealt, "A2").pk].status == "disputed"
    assert states[item_of(dealt, "A2").pk].reference is None


def test_the_queue_holds_disagreements_for_others_than_their_raters(dealt, frank, dave):
    label_all(dealt)
    assert [s.item_id for s in selectors.adjudication_queue(study=dealt.study, user=frank)] == [
        item_of(dealt, "A2").pk
    ]
    assert selectors.adjudication_queue(study=dealt.study, user=dave) == []


def test_an_adjudication_needs_a_reason_and_someone_who_did_not_label(dealt, frank, dave, charlie):
    label_all(dealt)
    item = item_of(dealt, "A2")
    final = decision({"ovarian torsion"}, {"fever"})
    with pytest.raises(DecisionError, match="say why"):
        adjudication_save(item=item, user=frank, decision=final, reason=" ")
    rater_update(rater=dealt.r1, can_rate=True, can_adjudicate=True, is_active=True)
    with pytest.raises(DecisionError, match="you labelled this item"):
        adjudication_save(item=item, user=dave, decision=final, reason="I say so")
    with pytest.raises(DecisionError, match="may not adjudicate"):
        adjudication_save(item=item, user=charlie, decision=final, reason="I say so")
    adjudication = adjudication_save(
        item=item, user=frank, decision=final, reason="fever is named"
    )
    assert (adjudication.adjudicator, adjudication.reason) == (dealt.adjudicator, "fever is named")
    assert selectors.adjudication_queue(study=dealt.study, user=frank) == []
    state = next(s for s, _ in selectors.item_states(study=dealt.study) if s.item_id == item.pk)
    assert (state.status, state.reference) == ("adjudicated", final)


def test_an_adjudicator_may_take_a_raters_label_as_it_is(dealt, frank):
    label_all(dealt)
    item = item_of(dealt, "A2")
    chosen = Label.objects.get(item=item, rater=dealt.r1)
    adjudication = adjudication_save(
        item=item, user=frank, decision=Decision(), reason="R1 is right", chosen_label=chosen
    )
    assert (adjudication.chosen_label, adjudication.red_flags_named) == (chosen, ["fever"])


def test_an_investigator_adjudicates_under_a_code_of_their_own(dealt, alice):
    label_all(dealt)
    adjudication = adjudication_save(
        item=item_of(dealt, "A2"),
        user=alice,
        decision=decision({"ovarian torsion"}, set()),
        reason="no fever",
    )
    role = adjudication.adjudicator
    assert (role.user, role.code, role.can_rate, role.can_adjudicate) == (alice, "R4", False, True)


def test_a_later_disagreeing_revision_reopens_an_adjudicated_item(dealt, frank):
    label_all(dealt)
    item = item_of(dealt, "A2")
    adjudication_save(
        item=item, user=frank, decision=decision({"ovarian torsion"}, set()), reason="x y z"
    )
    label_save(
        assignment=assignment(dealt, dealt.r1, "A2"),
        decision=decision({"ovarian torsion", "appendicitis"}, {"fever"}),
        reason="second look",
    )
    assert [s.item_id for s in selectors.adjudication_queue(study=dealt.study, user=frank)] == [
        item.pk
    ]


def test_adjudicated_condition_scores_give_the_reference_labels_of_answers(dealt, frank):
    label_all(dealt)
    scores = selectors.adjudicated_condition_scores(study=dealt.study)
    a = dealt.answers
    assert scores == {
        a["A1"].pk: {"conditions_correct": True, "matched": ["appendicitis"], "red_flags": []},
        a["A3"].pk: {"conditions_correct": True, "matched": ["appendicitis"], "red_flags": []},
    }  # A2 is disputed: absent, it keeps the matcher's score
    adjudication_save(
        item=item_of(dealt, "A2"), user=frank, decision=decision(set(), {"fever"}), reason="abc"
    )
    assert selectors.adjudicated_condition_scores(study=dealt.study)[a["A2"].pk] == {
        "conditions_correct": False,
        "matched": [],
        "red_flags": ["fever"],
    }


def test_a_withdrawal_takes_the_participants_items_and_labels_with_it(dealt, frank):
    label_all(dealt)
    adjudication_save(
        item=item_of(dealt, "A2"), user=frank, decision=decision(set(), set()), reason="abc"
    )
    participant_withdraw(participant_id=dealt.answers["A2"].task.participant_id)
    assert RatingItem.objects.count() == 2
    assert Label.objects.count() == 4
    assert not Adjudication.objects.exists()
