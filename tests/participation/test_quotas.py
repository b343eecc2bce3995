"""Quotas, the study-full outcome, and refilling timed-out participants' cells."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studyapp.participation.allocation import design_for, slots
from studyapp.participation.enrolment import participants_expire_inactive, study_has_room
from studyapp.participation.models import Allocation, Participant, ParticipantEvent, Task
from studyapp.participation.selectors import participant_has_begun
from studyapp.participation.services import (
    participant_answer_check,
    participant_consent,
    participant_read_instructions,
)
from studyapp.studies.models import Study
from tests.factories import make_control_arm, make_participant, make_scenario, make_study
from tests.participation.conftest import enter

COMPLETE_URL = "https://app.prolific.com/submissions/complete"


def quota_study(slug: str = "quota", *, keys=("s1", "s2"), arms=("a", "b"), **kwargs) -> Study:
    defaults = {
        "scenarios_per_participant": 1,
        "allocation_block_sizes": [len(arms)],
        "completion_url": COMPLETE_URL,
        "code_study_full": "FULL0001",
        "code_timed_out": "SLOW0001",
    }
    defaults.update(kwargs)
    study = make_study(slug, **defaults)
    for key in keys:
        make_scenario(study, key)
    for arm in arms:
        make_control_arm(study, key=arm)
    return study


def consent(study: Study, **kwargs) -> Participant:
    return participant_consent(participant_id=make_participant(study, **kwargs).pk)


def begin(study: Study, **kwargs) -> Participant:
    """Consent and read the instructions: from here on the participant counts in quotas."""
    participant = consent(study, **kwargs)
    if participant.arm_id is None:
        return participant
    return participant_read_instructions(participant_id=participant.pk)


def cells(study: Study) -> Counter:
    return Counter(
        Task.objects.filter(participant__study=study).values_list(
            "participant__arm__key", "scenario__key"
        )
    )


def test_cells_stay_balanced_within_each_arm(db):
    study = quota_study(keys=("s1", "s2", "s3"), scenarios_per_participant=2)
    for _ in range(30):
        consent(study)
    counts = cells(study)
    for arm in ("a", "b"):
        values = [counts[(arm, key)] for key in ("s1", "s2", "s3")]
        assert max(values) - min(values) <= 1
        assert sum(values) == 30  # 15 participants x 2 scenarios


def test_a_full_study_turns_new_participants_away_with_the_study_full_code(db, client):
    study = quota_study(quota_per_arm=2)
    for _ in range(4):
        assert begin(study).arm is not None
    # Said on the link's page, before anyone presses Start, and if they press it anyway.
    for method in (client.get, client.post):
        response = method(reverse("participation:entry", kwargs={"slug": study.slug}))
        assert response.status_code == 200
    content = response.content.decode()
    assert "This study is full" in content
    assert 'id="completion-code">FULL0001<' in content
    assert f"{COMPLETE_URL}?cc=FULL0001" in content
    assert Participant.objects.filter(study=study).count() == 4


def test_someone_who_entered_before_the_study_filled_up_gets_study_full_at_consent(db, client):
    study = quota_study(quota_per_arm=1)
    flow = enter(client, study)  # room when they arrived
    begin(study)
    begin(study)  # now both arms are full
    flow.post("consent", {"agree": "1"})
    participant = flow.refresh()
    assert participant.status == Participant.Status.STUDY_FULL
    assert participant.arm is None
    page = flow.home().content.decode()
    assert "This study is full" in page and "FULL0001" in page
    kinds = list(participant.events.values_list("kind", flat=True))
    assert kinds == ["entered", "consented", "study_full"]


def _seed_where_slot_is(position: int, arm: str) -> int:
    def arm_at(seed: int) -> str:
        design = design_for(method="blocks", arms=[("a", 1), ("b", 1)], block_sizes=[2], seed=seed)
        return slots(design, "", position)[-1].arm

    return next(seed for seed in range(1000) if arm_at(seed) == arm)


def test_a_full_arm_skips_its_slots_visibly_and_the_ledger_still_verifies(db):
    # A seed whose 7th slot is arm a, so the newcomer below meets a full arm first.
    seed = _seed_where_slot_is(7, "a")
    study = quota_study(keys=("s1",), quota_per_cell=3, allocation_seed=seed)
    # Fill arm a directly (e.g. after refills elsewhere): 3 responses in cell (a, s1).
    for _ in range(6):
        begin(study)
    assert Counter(cells(study).values()) == Counter({3: 2})
    # Both arms are full now; reopen b only, by timing out one of b's participants.
    late = Participant.objects.filter(study=study, arm__key="b").first()
    Participant.objects.filter(pk=late.pk).update(last_seen_at=timezone.now() - timedelta(hours=2))
    Study.objects.filter(pk=study.pk).update(time_limit_minutes=30)
    assert participants_expire_inactive() == 1
    newcomer = consent(study)
    assert newcomer.arm.key == "b"
    rows = list(Allocation.objects.filter(study=study).order_by("sequence"))
    assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
    skipped = [r for r in rows if r.outcome == Allocation.Outcome.ARM_FULL]
    assert [(r.sequence, r.arm.key, r.participant_id) for r in skipped] == [(7, "a", None)]
    assert rows[-1].sequence == 8 and rows[-1].participant_id == newcomer.pk
    out = StringIO()
    call_command("verify_allocation", study.slug, stdout=out)
    assert out.getvalue().startswith("OK")
    assert "skipped because the arm was full" in out.getvalue()


def test_timed_out_participants_are_refilled_by_default(db):
    study = quota_study(quota_per_arm=1, time_limit_minutes=30)
    first = [begin(study), begin(study)]
    assert consent(study).status == Participant.Status.STUDY_FULL
    Participant.objects.filter(pk=first[0].pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=31)
    )
    assert participants_expire_inactive() == 1
    refill = consent(study)
    assert refill.arm_id == first[0].arm_id
    assert refill.status == Participant.Status.CONSENTED


def test_timed_out_participants_can_count_toward_quotas(db):
    study = quota_study(quota_per_arm=1, time_limit_minutes=30, timed_out_count_toward_quota=True)
    first = begin(study)
    begin(study)
    Participant.objects.filter(pk=first.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=31)
    )
    assert participants_expire_inactive() == 1
    assert consent(study).status == Participant.Status.STUDY_FULL


def test_a_per_cell_quota_closes_cells_not_arms(db):
    study = quota_study(keys=("s1", "s2"), arms=("a",), quota_per_cell=2)
    assigned = [begin(study) for _ in range(4)]
    assert all(p.arm is not None for p in assigned)
    assert cells(study) == Counter({("a", "s1"): 2, ("a", "s2"): 2})
    assert consent(study).status == Participant.Status.STUDY_FULL


def test_a_returning_participant_resumes_even_when_the_study_is_full(db, client):
    study = quota_study(quota_per_arm=1)
    flow = enter(client, study, PROLIFIC_PID="pid-returning", SESSION_ID="se-1")
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    begin(study)
    assert not study_has_room(study=study)
    again = enter(Client(), study, PROLIFIC_PID="pid-returning", SESSION_ID="se-1")
    assert again.participant.pk == flow.participant.pk
    assert again.refresh().status == Participant.Status.CONSENTED


def test_every_status_change_is_recorded_with_from_and_to(db, consented):
    flow = consented
    for position in (1, 2):
        flow.post("sources", {"sources_text": "NHS website"}, position=position)
        flow.post("answer", flow.answer_data(), position=position)
    assert flow.refresh().status == Participant.Status.COMPLETED
    events = list(
        ParticipantEvent.objects.filter(participant=flow.participant)
        .order_by("at", "pk")
        .values_list("kind", "from_status", "to_status")
    )
    assert events == [
        ("entered", "", "started"),
        ("consented", "started", "consented"),
        ("began", "consented", "consented"),
        ("completed", "consented", "completed"),
    ]


def test_visitors_who_consent_and_stop_take_nobodys_place(db, client):
    # One place per arm; a dozen consent and go no further (bots, or people who left).
    study = quota_study(quota_per_arm=1)
    stopped = [consent(study) for _ in range(12)]
    assert all(p.arm is not None for p in stopped)  # allocated, but not counted
    assert study_has_room(study=study)
    real = enter(client, study, PROLIFIC_PID="5f1a2b3c4d5e6f7a8b9c0d1e")
    real.post("consent", {"agree": "1"})
    real.post("instructions")
    assert real.refresh().status == Participant.Status.CONSENTED
    assert real.home().context["task"] is not None
    begin(study)  # the other arm's place
    assert not study_has_room(study=study)
    out = StringIO()
    call_command("verify_allocation", study.slug, stdout=out)
    assert out.getvalue().startswith("OK")


def test_someone_allocated_before_the_quota_filled_keeps_their_place(db):
    # A consented participant is never turned away later: the quota can be passed by those
    # who were reading the instructions when it filled.
    study = quota_study(quota_per_arm=1)
    reading = consent(study)
    begin(study)
    begin(study)
    assert not study_has_room(study=study)
    late = participant_read_instructions(participant_id=reading.pk)
    assert late.status == Participant.Status.CONSENTED and late.instructions_read_at
    assert sum(cells(study).values()) == 3


def test_with_an_attention_check_only_passing_it_counts(db):
    study = quota_study(
        quota_per_arm=1,
        check_question="Which colour?",
        check_options=["red", "blue"],
        check_answer="blue",
    )
    for _ in range(2):
        begin(study)  # instructions read, check not yet passed
    assert study_has_room(study=study)
    for participant in Participant.objects.filter(study=study):
        participant_answer_check(participant_id=participant.pk, answer="blue")
    assert not study_has_room(study=study)


def test_cells_of_participants_who_never_began_stop_weighing_in_after_a_while(db):
    study = quota_study(keys=("s1", "s2"), arms=("a",))
    stale = consent(study)
    stale_key = stale.tasks.get().scenario.key
    Task.objects.filter(participant=stale).update(created_at=timezone.now() - timedelta(hours=1))
    fresh = [consent(study).tasks.get().scenario.key for _ in range(2)]
    # Were the stale task still counted, both newcomers would avoid its cell's first slot.
    assert Counter(fresh) == Counter({"s1": 1, "s2": 1})
    assert stale_key in fresh


def test_the_sql_rule_for_began_is_participant_has_begun(db):
    for has_check in (False, True):
        extra = (
            {"check_question": "Which?", "check_options": ["x", "y"], "check_answer": "y"}
            if has_check
            else {}
        )
        study = quota_study(f"began-{has_check}", **extra)
        consent(study)  # allocated only
        begin(study)  # instructions read
        passed = begin(study)
        if has_check:
            participant_answer_check(participant_id=passed.pk, answer="y")
        make_participant(study)  # not even consented
        people = list(Participant.objects.filter(study=study))
        in_sql = set(
            Participant.objects.filter(study=study)
            .began(study_has_check=has_check)
            .values_list("pk", flat=True)
        )
        assert in_sql == {p.pk for p in people if participant_has_begun(p)}
        assert len(in_sql) == (1 if has_check else 2)
