"""The allocation ledger: seeded, gap-free, append-only, verifiable, concealed."""

from __future__ import annotations

from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from studyapp.participation.allocation import design_for, slots
from studyapp.participation.models import (
    Allocation,
    AllocationState,
    LedgerImmutableError,
    Participant,
)
from studyapp.participation.services import participant_consent
from studyapp.participation.verification import LedgerRow, verify_ledger
from studyapp.studies.models import Study
from tests.conftest import require
from tests.factories import (
    make_control_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)
from tests.participation.conftest import enter


def three_arm_study(slug: str = "ledger", **kwargs) -> Study:
    study = make_study(slug, allocation_block_sizes=[4, 8], allocation_seed=20261125, **kwargs)
    for key in ("s1", "s2", "s3", "s4"):
        make_scenario(study, key)
    make_control_arm(study, key="a", weight=2)
    make_control_arm(study, key="b", weight=1)
    make_control_arm(study, key="c", weight=1)
    return study


def consent_many(study: Study, n: int, strata: list[str] | None = None) -> list[Participant]:
    out = []
    for i in range(n):
        stratum = strata[i % len(strata)] if strata else ""
        participant = make_participant(study, stratum=stratum)
        out.append(participant_consent(participant_id=participant.pk))
    return out


def test_consent_appends_the_slot_the_seed_gives(db):
    study = three_arm_study()
    participants = consent_many(study, 12)
    design = design_for(
        method="blocks", arms=[("a", 2), ("b", 1), ("c", 1)], block_sizes=[4, 8], seed=20261125
    )
    expected = slots(design, "", 12)
    rows = list(Allocation.objects.filter(study=study).order_by("sequence"))
    assert [r.sequence for r in rows] == list(range(1, 13))
    assert [(r.block, r.block_position, r.block_size, r.arm.key) for r in rows] == [
        (s.block, s.position, s.block_size, s.arm) for s in expected
    ]
    assert [r.participant_id for r in rows] == [p.pk for p in participants]
    assert all(p.arm.key == r.arm.key for p, r in zip(participants, rows, strict=True))
    assert all(r.outcome == Allocation.Outcome.ASSIGNED for r in rows)


def test_stratified_blocks_keep_each_stratum_balanced_and_the_global_sequence_gap_free(db):
    study = three_arm_study(allocation_method=Study.AllocationMethod.STRATIFIED_BLOCKS)
    consent_many(study, 40, strata=["f", "m", "m", "x"])
    rows = list(Allocation.objects.filter(study=study).order_by("sequence"))
    assert [r.sequence for r in rows] == list(range(1, 41))
    for stratum in ("f", "m", "x"):
        mine = [r for r in rows if r.stratum == stratum]
        assert [r.stratum_sequence for r in mine] == list(range(1, len(mine) + 1))
        complete = Counter()
        for r in mine:
            complete[r.block] += 1
        for block, n in complete.items():
            members = [r for r in mine if r.block == block]
            if n == members[0].block_size:
                counts = Counter(r.arm.key for r in members)
                copies = n // 4
                assert counts == {"a": 2 * copies, "b": copies, "c": copies}


def test_the_design_is_frozen_at_the_first_allocation(db):
    study = three_arm_study()
    consent_many(study, 3)
    state = AllocationState.objects.get(study=study)
    assert state.design["arms"] == [["a", 2], ["b", 1], ["c", 1]]
    assert state.last_sequence == 3
    # Later edits do not change the sequence (the admin also refuses them).
    study.arms.filter(key="b").update(weight=5)
    consent_many(study, 9)
    call_command("verify_allocation", study.slug, stdout=StringIO())


def test_verify_allocation_confirms_1000_simulated_enrolments(db):
    study = three_arm_study(
        "thousand",
        status=Study.Status.PAUSED,
        allocation_method=Study.AllocationMethod.STRATIFIED_BLOCKS,
    )
    out = StringIO()
    call_command(
        "simulate_enrolment", study.slug, "--n", "1000", "--strata", "uk,us,other", stdout=out
    )
    assert "1000 allocated" in out.getvalue()
    out = StringIO()
    call_command("verify_allocation", study.slug, stdout=out)
    assert out.getvalue().startswith("OK: 1000 ledger rows of study thousand match")
    arms = Counter(Allocation.objects.filter(study=study).values_list("arm__key", flat=True))
    # 2:1:1 within three strata of blocks of 4 or 8: each stratum is off by at most
    # part of one block.
    assert abs(arms["a"] - 500) <= 12 and abs(arms["b"] - 250) <= 12
    assert abs(arms["c"] - 250) <= 12


def test_verify_allocation_reports_the_first_mismatch(db):
    study = three_arm_study()
    consent_many(study, 8)
    # Pretend the seed was different: the regenerated sequence no longer matches.
    state = AllocationState.objects.get(study=study)
    state.design = {**state.design, "seed": 1}
    state.save()
    with pytest.raises(CommandError, match="MISMATCH in study ledger: sequence"):
        call_command("verify_allocation", study.slug, stdout=StringIO())


def test_verify_ledger_finds_gaps_and_wrong_arms():
    design = design_for(method="blocks", arms=[("a", 1), ("b", 1)], block_sizes=[4], seed=3)
    truth = slots(design, "", 8)

    def row(seq, slot, arm=None):
        return LedgerRow(
            sequence=seq,
            stratum="",
            stratum_sequence=slot.stratum_sequence,
            block=slot.block,
            block_size=slot.block_size,
            block_position=slot.position,
            arm=arm or slot.arm,
            outcome="assigned",
            participant_arm=arm or slot.arm,
        )

    rows = [row(i + 1, s) for i, s in enumerate(truth)]
    assert verify_ledger(design, rows).ok
    gap = [*rows[:3], row(5, truth[3])]
    assert "sequence 4 is missing" in verify_ledger(design, gap).problem
    flipped = "b" if truth[5].arm == "a" else "a"
    wrong = [*rows[:5], row(6, truth[5], arm=flipped)]
    assert verify_ledger(design, wrong).problem.startswith("sequence 6")


def test_a_participant_has_at_most_one_ledger_row(db):
    study = three_arm_study()
    participant = consent_many(study, 1)[0]
    row = Allocation.objects.get(participant=participant)
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.create(
            study=study,
            sequence=2,
            stratum="",
            stratum_sequence=2,
            block=row.block,
            block_size=row.block_size,
            block_position=2,
            arm=row.arm,
            outcome="assigned",
            participant=participant,
            created_at=row.created_at,
        )


def test_the_ledger_refuses_changes_and_deletion(db):
    study = three_arm_study()
    consent_many(study, 1)
    row = Allocation.objects.get(study=study)
    row.block = 99
    with pytest.raises(LedgerImmutableError):
        row.save()
    with pytest.raises(LedgerImmutableError):
        row.delete()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_ledger_edits_even_in_raw_sql():
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
    study = three_arm_study()
    consent_many(study, 1)
    for sql in (
        "UPDATE participation_allocation SET arm_id = arm_id, block = 7",
        "DELETE FROM participation_allocation",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert Allocation.objects.get(study=study).block == 1


def test_upcoming_allocations_exist_nowhere(db):
    study = three_arm_study()
    consent_many(study, 5)
    # Exactly one row per consumed slot, and the state row holds only the counter and the
    # design: there is no table of future assignments to read.
    assert Allocation.objects.filter(study=study).count() == 5
    state = AllocationState.objects.get(study=study)
    assert set(state.design) == {"method", "arms", "block_sizes", "seed", "version"}


def test_investigators_see_neither_the_seed_nor_the_ledger(client, db):
    study = three_arm_study()
    consent_many(study, 2)
    alice = make_user("alice")
    alice.is_staff = True
    alice.save()
    for codename in ("view_study", "change_study", "view_allocation"):
        from django.contrib.auth.models import Permission

        alice.user_permissions.add(Permission.objects.get(codename=codename))
    make_member(study, alice)
    client.force_login(alice)
    page = client.get(reverse("admin:studies_study_change", args=[study.pk]))
    assert page.status_code == 200
    assert "allocation_seed" not in page.content.decode()
    assert str(study.allocation_seed) not in page.content.decode()
    assert client.get(reverse("admin:participation_allocation_changelist")).status_code == 403

    root = make_user("root", superuser=True)
    client.force_login(root)
    ledger = client.get(reverse("admin:participation_allocation_changelist"))
    assert ledger.status_code == 200
    assert (
        "allocation_seed"
        in client.get(reverse("admin:studies_study_change", args=[study.pk])).content.decode()
    )


def test_a_double_consent_through_the_pages_writes_one_ledger_row(client, db):
    study = three_arm_study()
    flow = enter(client, study)
    for _ in range(3):
        flow.post("consent", {"agree": "1"})
    assert Allocation.objects.filter(study=study).count() == 1
    assert Allocation.objects.get(study=study).participant_id == flow.participant.pk
