"""The live monitor's reads: who is where now, replies in flight, recent failures.

Cheap by design, as the page polls it every few seconds: a fixed number of queries
whatever the number of participants or messages (a test holds it), nothing of what
participants or models wrote, and the time window of every recent figure stated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from studyapp.analysis.blinding import ArmInfo
from studyapp.analysis.metrics import StateRow
from studyapp.analysis.selectors import arm_infos, state_rows
from studyapp.chat.health import EndpointHealth, study_endpoint_health
from studyapp.chat.monitor import ReplyMonitor, study_reply_monitor
from studyapp.participation.selectors import (
    ActiveParticipant,
    participants_active_recent,
    study_state_counts,
)
from studyapp.participation.states import ACTIVE_STATES, STATE_TERMS, STATES, State, Term
from studyapp.studies.models import Study

ACTIVE_LISTED = 20


@dataclass(frozen=True)
class MonitorLine:
    term: Term
    counts: list[int]  # per row of `rows`
    total: int


@dataclass(frozen=True)
class Monitor:
    now: datetime
    arms: list[ArmInfo]
    rows: list[StateRow]  # the arms, then "no arm" when anyone has none
    at_position: dict[int, int]
    active: list[ActiveParticipant]
    replies: ReplyMonitor
    endpoints: list[EndpointHealth]

    def _lines(self, states) -> list[MonitorLine]:
        lines = []
        for state in states:
            counts = [row.counts.get(state, 0) for row in self.rows]
            lines.append(MonitorLine(STATE_TERMS[state], counts, sum(counts)))
        return lines

    @property
    def active_lines(self) -> list[MonitorLine]:
        """The states of participants still on their way, per arm."""
        return self._lines(ACTIVE_STATES)

    @property
    def ended_lines(self) -> list[MonitorLine]:
        return self._lines([State(t.code) for t in STATES if t.code not in ACTIVE_STATES])

    @property
    def active_total(self) -> int:
        return sum(line.total for line in self.active_lines)

    @property
    def in_flight_per_row(self) -> list[int]:
        by_arm = self.replies.in_flight_by_arm
        return [by_arm.get(arm.id, 0) for arm in self.arms] + (
            [0] if len(self.rows) > len(self.arms) else []
        )


def study_monitor(*, study: Study, now: datetime | None = None) -> Monitor:
    now = now or timezone.now()
    arms = arm_infos(study=study)
    # During the pilot its table is the pilot's; after it, the main phase's (the list of
    # who is in the study now shows everyone, the pilot's labelled).
    counts = study_state_counts(study=study, include_pilot=study.is_pilot)
    replies = study_reply_monitor(study=study, now=now)
    names = {arm.endpoint for arm in arms if arm.kind == "llm" and arm.endpoint}
    return Monitor(
        now=now,
        arms=arms,
        rows=state_rows(arms=arms, counts=counts),
        at_position=dict(sorted(counts.at_position.items())),
        active=participants_active_recent(study=study, limit=ACTIVE_LISTED),
        replies=replies,
        endpoints=study_endpoint_health(study=study, endpoint_names=names, now=now),
    )
