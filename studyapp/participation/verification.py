"""Checking the allocation ledger against the sequence regenerated from the seed.

`verify_ledger` is pure (rows in, first problem out); `study_verify_allocation` reads a
study's ledger and design and calls it. `manage.py verify_allocation <slug>` prints the
result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from studyapp.participation.allocation import (
    Design,
    Slot,
    iter_slots,
    largest_imbalance,
    unbalanced_blocks,
)
from studyapp.participation.models import Allocation, AllocationState, Participant
from studyapp.studies.models import Study


@dataclass(frozen=True)
class LedgerRow:
    sequence: int
    stratum: str
    stratum_sequence: int
    block: int
    block_size: int
    block_position: int
    arm: str
    outcome: str
    participant_arm: str | None  # the arm the participant holds now (None: withdrawn)


@dataclass
class Verification:
    ok: bool
    checked: int = 0
    strata: dict[str, int] = field(default_factory=dict)
    problem: str = ""
    notes: list[str] = field(default_factory=list)
    largest_imbalance: float = 0.0


def verify_ledger(design: Design, rows: Sequence[LedgerRow]) -> Verification:
    """The first way `rows` (in sequence order) differ from the regenerated sequence."""
    result = Verification(ok=False, checked=len(rows))
    expected_sequence = 1
    generators: dict[str, Iterator[Slot]] = {}
    seen: dict[str, list[Slot]] = {}
    for row in rows:
        if row.sequence != expected_sequence:
            result.problem = (
                f"sequence {expected_sequence} is missing (the next row is {row.sequence})"
            )
            return result
        expected_sequence += 1
        if not design.is_stratified and row.stratum != "":
            result.problem = (
                f"sequence {row.sequence}: stratum {row.stratum!r} in an unstratified design"
            )
            return result
        slots = generators.setdefault(row.stratum, iter_slots(design, row.stratum))
        want = next(slots)
        got = (row.stratum_sequence, row.block, row.block_size, row.block_position, row.arm)
        expected = (want.stratum_sequence, want.block, want.block_size, want.position, want.arm)
        if got != expected:
            result.problem = (
                f"sequence {row.sequence} (stratum {row.stratum or '-'} #{row.stratum_sequence}): "
                f"ledger has block {row.block} position {row.block_position}/{row.block_size} "
                f"arm {row.arm}; the seed gives block {want.block} position "
                f"{want.position}/{want.block_size} arm {want.arm}"
            )
            return result
        if row.outcome == Allocation.Outcome.ASSIGNED and row.participant_arm not in (
            None,
            row.arm,
        ):
            result.problem = (
                f"sequence {row.sequence}: the participant is in arm {row.participant_arm}, "
                f"the ledger says {row.arm}"
            )
            return result
        seen.setdefault(row.stratum, []).append(want)
    for stratum, allocated in seen.items():
        bad = unbalanced_blocks(design, allocated)
        if bad:  # pragma: no cover - implied by the regeneration check above
            result.problem = f"stratum {stratum or '-'}: unbalanced complete blocks {bad}"
            return result
    weights = dict(design.arms)
    assigned = [r.arm for r in rows if r.outcome == Allocation.Outcome.ASSIGNED]
    result.largest_imbalance = largest_imbalance(assigned, weights)
    result.strata = {stratum or "-": len(allocated) for stratum, allocated in seen.items()}
    result.ok = True
    return result


def study_verify_allocation(*, study: Study) -> Verification:
    state = AllocationState.objects.filter(study=study).first()
    rows = [
        LedgerRow(
            sequence=sequence,
            stratum=stratum,
            stratum_sequence=stratum_sequence,
            block=block,
            block_size=block_size,
            block_position=block_position,
            arm=arm,
            outcome=outcome,
            participant_arm=participant_arm if participant_id else None,
        )
        for (
            sequence,
            stratum,
            stratum_sequence,
            block,
            block_size,
            block_position,
            arm,
            outcome,
            participant_id,
            participant_arm,
        ) in Allocation.objects.filter(study=study)
        .order_by("sequence")
        .values_list(
            "sequence",
            "stratum",
            "stratum_sequence",
            "block",
            "block_size",
            "block_position",
            "arm__key",
            "outcome",
            "participant_id",
            "participant__arm__key",
        )
    ]
    if state is None or not state.design:
        if rows:
            return Verification(ok=False, checked=len(rows), problem="ledger rows but no design")
        return Verification(ok=True, notes=["nothing allocated yet"])
    design = Design.from_dict(state.design)
    result = verify_ledger(design, rows)
    if not result.ok:
        return result
    if design.seed != study.allocation_seed:
        result.notes.append("the study's seed was changed after the design was frozen")
    if state.last_sequence != len(rows):
        result.ok = False
        result.problem = (
            f"the allocation counter is at {state.last_sequence}, the ledger has {len(rows)} rows"
        )
        return result
    # A simulated patient of an evaluation run has its run's arm and, by design, no slot.
    unledgered = (
        Participant.objects.humans(include_pilot=True)
        .filter(study=study, arm__isnull=False, allocation__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )
    if unledgered is not None:
        result.ok = False
        result.problem = f"participant {unledgered} has an arm but no ledger row"
        return result
    withdrawn = sum(
        1 for r in rows if r.outcome == Allocation.Outcome.ASSIGNED and r.participant_arm is None
    )
    if withdrawn:
        result.notes.append(f"{withdrawn} assigned row(s) are anonymous (withdrawn)")
    skipped = sum(1 for r in rows if r.outcome == Allocation.Outcome.ARM_FULL)
    if skipped:
        result.notes.append(f"{skipped} slot(s) skipped because the arm was full")
    return result
