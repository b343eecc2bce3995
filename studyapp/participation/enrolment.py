"""Writes for enrolment: allocation under a row lock, quotas, timeouts, withdrawal.

Allocation (called by participation.services after consent, in the same transaction):
lock the study's AllocationState row, read where each stratum's sequence stands from the
ledger, compute the next slot from the frozen design, and append it to the ledger with
the participant's tasks. The lock serialises every allocation of a study across all
server processes, so the global sequence is gap-free and a participant is allocated once
(their own row lock, taken first by the caller, makes a double click wait and then see
the allocation).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.crypto import salted_hmac

from studyapp.participation.allocation import Design, DesignError, Slot, design_for, next_slot
from studyapp.participation.assignment import (
    Quotas,
    cell_counts_by_arm,
    choose_scenarios,
    open_arms,
)
from studyapp.participation.models import (
    Allocation,
    AllocationState,
    ClearedPilotPid,
    Participant,
    ParticipantEvent,
    Task,
    began_q,
)
from studyapp.participation.transitions import participant_set_status
from studyapp.studies.models import Arm, Scenario, Study
from studyapp.studies.services import plan_lock_at_first_allocation

logger = logging.getLogger(__name__)

S = Participant.Status

# A sequence that keeps landing on full arms: blocks hold every arm, so with block
# randomisation this is never reached; with simple randomisation it would take a vanishing
# weight on every open arm.
MAX_SKIPS = 10_000


class AllocationConfigError(Exception):
    """The study cannot allocate (no arms, too few scenarios, bad block sizes)."""


# --- Reads used under the lock ----------------------------------------------------------


def counting_statuses(study: Study) -> list[str]:
    """Participants whose tasks count toward quotas (and toward cell balance), once they
    began (see cell_counts)."""
    statuses = [S.CONSENTED, S.COMPLETED]
    if study.timed_out_count_toward_quota:
        # Those who left after a technical problem are attrition like the timed out (they
        # too are paid, with a code of their own), so the one setting governs both.
        statuses += [S.TIMED_OUT, S.RETURNED, S.TECHNICAL_PROBLEM]
    return statuses


# Allocated participants who have not begun yet still weigh in the balance of cells for
# this long (reading the instructions takes minutes), so that people consenting at the
# same moment are spread over the cells; after it, one who stopped no longer skews it.
BALANCE_PENDING = timedelta(minutes=15)


def cell_counts(*, study: Study, pilot: bool = False) -> dict[tuple[str, str], int]:
    """{(arm key, scenario key): responses that count toward quotas}, in one query.

    Quotas count participants who began (reached their tasks: the rule of
    selectors.participant_has_begun), in a counting status: a visitor or bot that consents
    and stops takes nobody's place. Each phase counts its own participants (`pilot`): the
    pilot's take no place of the main phase's quotas.
    """
    return cell_counts_with_balance(study=study, pilot=pilot)[0]


def cell_counts_with_balance(
    *, study: Study, pending_since: datetime | None = None, pilot: bool = False
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Quota counts (cell_counts) and balance counts, in one aggregate query.

    Balance counts add the tasks assigned since `pending_since` to participants who have not
    begun yet: for spreading people who consent together over the cells, never for quotas.
    """
    began = began_q(study_has_check=study.has_check, prefix="participant__")
    counted = began if pending_since is None else began | Q(created_at__gte=pending_since)
    rows = (
        # Simulated patients of evaluation runs take no human's place in a quota.
        Task.objects.of_humans(include_pilot=True)
        .filter(
            counted,
            participant__is_pilot=pilot,
            participant__study=study,
            participant__status__in=counting_statuses(study),
            participant__arm__isnull=False,
        )
        .order_by()
        .values_list("participant__arm__key", "scenario__key")
        .annotate(quota=Count("pk", filter=began), balance=Count("pk"))
    )
    quota, balance = {}, {}
    for arm, scenario, n_quota, n_balance in rows:
        if n_quota:
            quota[(arm, scenario)] = n_quota
        balance[(arm, scenario)] = n_balance
    return quota, balance


def study_design(*, study: Study, arms: Sequence[Arm]) -> Design:
    """The design the study's current settings describe."""
    try:
        return design_for(
            method=study.allocation_method,
            arms=[(arm.key, arm.weight) for arm in arms],
            block_sizes=study.allocation_block_sizes or (),
            seed=study.allocation_seed,
        )
    except DesignError as exc:
        raise AllocationConfigError(str(exc)) from exc


def study_frozen_design(*, study: Study) -> Design | None:
    state = AllocationState.objects.filter(study=study).first()
    if state is None or not state.design:
        return None
    return Design.from_dict(state.design)


def _active_scenarios(study: Study) -> dict[str, Scenario]:
    # One active version per key (a database constraint), so keys identify cells.
    return {s.key: s for s in Scenario.objects.filter(study=study).active().order_by("key")}


def _quotas(study: Study) -> Quotas:
    return Quotas(per_arm=study.quota_per_arm, per_cell=study.quota_per_cell)


def study_has_room(*, study: Study) -> bool:
    """Whether one more participant could be allocated now (checked at entry)."""
    quotas = _quotas(study)
    if quotas.per_arm is None and quotas.per_cell is None:
        return True
    design = study_frozen_design(study=study)
    arm_keys = (
        list(design.arm_keys)
        if design
        else list(Arm.objects.filter(study=study).values_list("key", flat=True))
    )
    return bool(
        open_arms(
            arm_keys=arm_keys,
            scenario_keys=list(_active_scenarios(study)),
            counts=cell_counts(study=study, pilot=study.is_pilot),
            k=study.scenarios_per_participant,
            quotas=quotas,
        )
    )


def _lock_state(study: Study) -> AllocationState:
    """The study's AllocationState, locked FOR UPDATE until the transaction ends."""
    state = AllocationState.objects.select_for_update().filter(study=study).first()
    if state is not None:
        return state
    # The first allocation: get_or_create survives two of them racing (unique primary
    # key, then a re-read); the FOR UPDATE is what serialises allocations.
    AllocationState.objects.get_or_create(study=study)
    return AllocationState.objects.select_for_update().get(study=study)


def _last_slot(study: Study, stratum: str) -> Slot | None:
    row = (
        Allocation.objects.filter(study=study, stratum=stratum)
        .order_by("-stratum_sequence")
        .select_related("arm")
        .first()
    )
    if row is None:
        return None
    return Slot(
        stratum_sequence=row.stratum_sequence,
        block=row.block,
        block_size=row.block_size,
        position=row.block_position,
        arm=row.arm.key,
    )


# --- Allocation -------------------------------------------------------------------------


def participant_allocate(*, participant: Participant, now: datetime) -> Allocation | None:
    """Allocate a consented participant (row-locked by the caller) and assign their tasks.

    Returns the ledger row, or None when every arm is full (the participant is then moved
    to `study_full`). Raises AllocationConfigError when the study cannot allocate at all.
    """
    study = participant.study
    # Read what the lock does not protect first: every query under it delays every other
    # consent of the study.
    arms = {arm.key: arm for arm in Arm.objects.filter(study=study)}
    scenarios = _active_scenarios(study)
    k = study.scenarios_per_participant
    if len(scenarios) < k:
        raise AllocationConfigError(f"{len(scenarios)} active scenarios, {k} needed")
    state = _lock_state(study)
    # The phase is the study's now, read under the lock the launch also takes: one who
    # entered during the pilot but is randomised after the launch is a main-phase
    # participant (their slot is the main phase's), never a pilot one in a main block.
    # A paused pilot is still the pilot: one who consents while it is paused stays in it.
    pilot = (
        participant.is_pilot
        and Study.objects.filter(pk=study.pk).values_list("status", flat=True).get()
        in Study.PILOT_STATUSES
    )
    if participant.is_pilot and not pilot:
        participant_leave_pilot(participant=participant)
    if state.design:
        design = Design.from_dict(state.design)
    else:
        design = study_design(study=study, arms=list(arms.values()))
        state.design = design.as_dict()
        state.frozen_at = now
        # The analysis plan is locked with the design, in this transaction.
        plan_lock_at_first_allocation(study=study, design=state.design, now=now)
    quotas = _quotas(study)
    counts, balance_counts = cell_counts_with_balance(
        study=study, pending_since=now - BALANCE_PENDING, pilot=pilot
    )
    balance = cell_counts_by_arm(balance_counts)
    available = [key for key in design.arm_keys if key in arms]
    room = set(
        open_arms(
            arm_keys=available, scenario_keys=list(scenarios), counts=counts, k=k, quotas=quotas
        )
    )
    if not room:
        state.save()
        participant_set_status(participant=participant, to=S.STUDY_FULL, reason="quotas met")
        return None

    stratum = participant.stratum if design.is_stratified else ""
    previous = _last_slot(study, stratum)
    by_arm = cell_counts_by_arm(counts)
    for _ in range(MAX_SKIPS):
        slot = next_slot(design, stratum, previous)
        state.last_sequence += 1
        fields = {
            "study": study,
            "sequence": state.last_sequence,
            "stratum": stratum,
            "stratum_sequence": slot.stratum_sequence,
            "block": slot.block,
            "block_size": slot.block_size,
            "block_position": slot.position,
            "arm": arms.get(slot.arm) or Arm.objects.get(study=study, key=slot.arm),
            "created_at": now,
            "is_pilot": pilot,
        }
        if slot.arm in room:
            chosen = choose_scenarios(
                scenario_keys=list(scenarios),
                cell_counts=by_arm.get(slot.arm, {}),
                balance_counts=balance.get(slot.arm, {}),
                k=k,
                quotas=quotas,
                seed=design.seed,
                salt=state.last_sequence,
            )
            assert chosen is not None  # the arm has room, so k cells are open
            row = Allocation.objects.create(
                outcome=Allocation.Outcome.ASSIGNED, participant=participant, **fields
            )
            break
        # The slot's arm is full: the slot is used up, visibly, and the sequence moves on.
        Allocation.objects.create(outcome=Allocation.Outcome.ARM_FULL, **fields)
        previous = slot
    else:
        raise AllocationConfigError("no open arm came up in the sequence")
    state.save()

    Task.objects.bulk_create(
        [
            Task(
                participant=participant,
                scenario=scenarios[key],
                position=position,
                status=Task.Status.ACTIVE if position == 1 else Task.Status.PENDING,
                started_at=now if position == 1 else None,
            )
            for position, key in enumerate(chosen, start=1)
        ]
    )
    participant.arm = arms[slot.arm]
    participant.save(update_fields=["arm", "updated_at"])
    logger.info(
        "participant %s allocated: study %s sequence %d stratum-seq %d block %d/%d arm %s",
        participant.pk,
        study.pk,
        row.sequence,
        row.stratum_sequence,
        row.block,
        row.block_position,
        row.arm_id,
    )
    return row


def participant_leave_pilot(*, participant: Participant) -> None:
    """A pilot participant not yet randomised when the main phase started becomes a
    main-phase one, their events with them (called under the allocation lock)."""
    participant.is_pilot = False
    participant.save(update_fields=["is_pilot", "updated_at"])
    ParticipantEvent.objects.filter(participant=participant).update(is_pilot=False)
    logger.info("participant %s: randomised after the pilot, in the main phase", participant.pk)


def pilot_blocks_close(*, study: Study, now: datetime) -> int:
    """Use up the rest of every block the pilot left unfinished, as `pilot_end` ledger
    rows, so each stratum's main phase starts at the first slot of a block: its blocks
    are then whole and balanced among main-phase participants alone, and the ledger stays
    gap-free and regenerable from the seed. Takes the allocation lock (an allocation
    racing the launch either comes before, in the pilot, or after, in the main phase).
    Returns how many slots were closed."""
    state = AllocationState.objects.select_for_update().filter(study=study).first()
    if state is None or not state.design:
        return 0  # nobody was randomised in the pilot: the sequence has not begun
    design = Design.from_dict(state.design)
    arms = {arm.key: arm for arm in Arm.objects.filter(study=study)}
    strata = set(
        Allocation.objects.filter(study=study).order_by().values_list("stratum", flat=True)
    )
    closed = 0
    for stratum in sorted(strata):
        previous = _last_slot(study, stratum)
        while previous is not None and previous.position < previous.block_size:
            slot = next_slot(design, stratum, previous)
            state.last_sequence += 1
            Allocation.objects.create(
                study=study,
                sequence=state.last_sequence,
                stratum=stratum,
                stratum_sequence=slot.stratum_sequence,
                block=slot.block,
                block_size=slot.block_size,
                block_position=slot.position,
                arm=arms.get(slot.arm) or Arm.objects.get(study=study, key=slot.arm),
                outcome=Allocation.Outcome.PILOT_END,
                is_pilot=True,
                created_at=now,
            )
            previous = slot
            closed += 1
    state.save()
    logger.info("study %s: %d slots of the pilot's last blocks closed", study.pk, closed)
    return closed


# --- Attrition --------------------------------------------------------------------------

ACTIVE_STATUSES = (S.STARTED, S.CONSENTED)


def participant_is_inactive(participant: Participant, now: datetime) -> bool:
    limit = participant.study.time_limit_minutes
    if not limit or participant.status not in ACTIVE_STATUSES:
        return False
    last = participant.last_seen_at or participant.created_at
    return now - last > timedelta(minutes=limit)


@transaction.atomic
def participant_expire(*, participant_id: int, now: datetime | None = None) -> bool:
    """Time the participant out if they are still inactive past the limit (re-checked under
    the lock, so a request that just arrived wins)."""
    now = now or timezone.now()
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("study")
        .get(pk=participant_id)
    )
    if not participant_is_inactive(participant, now):
        return False
    participant_set_status(
        participant=participant,
        to=S.TIMED_OUT,
        reason=f"inactive for more than {participant.study.time_limit_minutes} min",
        now=now,
    )
    return True


def participants_expire_inactive(*, now: datetime | None = None) -> int:
    """Time out every participant inactive past their study's limit; how many were."""
    now = now or timezone.now()
    expired = 0
    for study in Study.objects.filter(time_limit_minutes__gt=0).only("pk", "time_limit_minutes"):
        cutoff = now - timedelta(minutes=study.time_limit_minutes)
        candidates = (
            # The pilot's participants time out as everyone's do.
            Participant.objects.humans(include_pilot=True)
            .filter(study=study, status__in=ACTIVE_STATUSES)
            .annotate(last_active=Coalesce("last_seen_at", "created_at"))
            .filter(last_active__lt=cutoff)
            .values_list("pk", flat=True)
        )
        for pk in list(candidates):
            expired += participant_expire(participant_id=pk, now=now)
    if expired:
        logger.info("timed out %d inactive participants", expired)
    return expired


# --- Withdrawal -------------------------------------------------------------------------


def pid_digest(*, study_id: int, prolific_pid: str) -> str:
    """A keyed hash of a PID within a study: recognises a withdrawn PID without storing it."""
    value = f"{study_id}:{prolific_pid}"
    return salted_hmac(
        "studyapp.participation.withdrawn-pid", value, algorithm="sha256"
    ).hexdigest()


def pid_was_in_cleared_pilot(*, study: Study, prolific_pid: str) -> bool:
    """Whether this PID took part in the study's pilot whose data was cleared at launch
    (participation.pilot): a kept pilot participant resumes their own session instead."""
    if not prolific_pid:
        return False
    digest = pid_digest(study_id=study.pk, prolific_pid=prolific_pid)
    return ClearedPilotPid.objects.filter(study=study, pid_digest=digest).exists()


def pid_has_withdrawn(*, study: Study, prolific_pid: str) -> bool:
    if not prolific_pid:
        return False
    digest = pid_digest(study_id=study.pk, prolific_pid=prolific_pid)
    return ParticipantEvent.objects.filter(
        study=study, kind=ParticipantEvent.Kind.WITHDRAWN, pid_digest=digest
    ).exists()


@transaction.atomic
def participant_withdraw(*, participant_id: int) -> None:
    """Withdraw consent: delete everything the participant gave, keep the ledger anonymous.

    Tasks, answers, sources, conversations and messages go with the participant row; the
    ledger row and the status events stay without a link to anyone, so the allocation
    sequence remains verifiable and CONSORT still counts the withdrawal.
    """
    participant = Participant.objects.select_for_update(of=("self",)).get(pk=participant_id)
    if participant.is_preview:
        # An investigator's preview: no withdrawal event (an anonymous one would count in
        # CONSORT), and its other events go with it rather than staying unlinked.
        ParticipantEvent.objects.filter(participant=participant).delete()
        participant.delete()
        return
    digest = (
        pid_digest(study_id=participant.study_id, prolific_pid=participant.prolific_pid)
        if participant.prolific_pid
        else ""
    )
    participant_set_status(
        participant=participant, to=S.WITHDRAWN, reason="withdrew consent", pid_digest=digest
    )
    pk = participant.pk
    participant.delete()
    logger.info("participant %s withdrew; their data was deleted", pk)
