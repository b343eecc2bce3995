"""Simulated enrolment: many participants through the real consent and allocation services.

For demonstrations, the verification test and the benchmark. Simulated participants get
PIDs `sim-<n>` so they are easy to tell apart; a live study is refused by the command.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from studyapp.participation.models import Participant
from studyapp.participation.services import participant_consent
from studyapp.participation.transitions import participant_record_entry
from studyapp.studies.models import Study


@dataclass
class SimulationResult:
    enrolled: int
    allocated: int
    study_full: int


def simulate_enrolments(
    *, study: Study, n: int, strata: Sequence[str] = (), rng_seed: int = 0
) -> SimulationResult:
    """Enter and consent `n` participants, each in a stratum drawn from `strata`."""
    rng = random.Random(rng_seed)
    start = Participant.objects.filter(study=study, prolific_pid__startswith="sim-").count()
    allocated = full = 0
    for i in range(start + 1, start + n + 1):
        participant = Participant.objects.create(
            study=study,
            prolific_pid=f"sim-{i}",
            stratum=rng.choice(list(strata)) if strata else "",
        )
        participant_record_entry(participant=participant)
        participant = participant_consent(participant_id=participant.pk)
        if participant.arm_id is not None:
            allocated += 1
        elif participant.status == Participant.Status.STUDY_FULL:
            full += 1
    return SimulationResult(enrolled=n, allocated=allocated, study_full=full)
