"""CONSORT participant flow: numbers per arm from the allocation ledger and the event log.

`consort_from_counts` and `consort_figure` are pure (counts in, numbers or a plotly figure
out); `study_consort` reads the counts (participation.selectors.study_flow_counts, three
aggregate queries) and builds the numbers. The event log survives withdrawal, so a
withdrawn participant is still counted, anonymously.

Every allocated participant is in exactly one of: in progress, analysed (completed and
still in the study), timed out (or returned), left after a technical problem (the model
kept failing; their data is kept), excluded (failed the attention check), withdrawn.
`consort_from_counts` keeps that identity, and the tests check it. The words (and the
page's definitions) are participation.states': the columns are milestones ever reached,
except "in progress" and "analysed", which are states now.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import plotly.graph_objects as go

from studyapp.participation.models import ParticipantEvent
from studyapp.participation.selectors import FlowCounts, study_flow_counts
from studyapp.participation.states import MILESTONE_TERMS, STATE_TERMS, Milestone, State
from studyapp.studies.models import Arm, Study

K = ParticipantEvent.Kind


@dataclass(frozen=True)
class ArmRef:
    id: int
    key: str
    label: str


@dataclass(frozen=True)
class ArmFlow:
    key: str
    label: str
    allocated: int
    started: int  # reached scenario 1 (Milestone.BEGAN: received the allocated intervention)
    completed: int  # ever completed (also those who withdrew afterwards)
    timed_out: int  # lost to follow-up: inactive past the limit, or returned
    technical_problem: int  # left through the chat's technical exit (the model kept failing)
    excluded: int  # failed the attention/comprehension check
    withdrawn: int  # withdrew consent; their data is deleted
    in_progress: int
    analysed: int  # completed and still in the study
    skipped_slots: int  # ledger slots of this arm skipped while it was full


@dataclass(frozen=True)
class Consort:
    assessed: int  # opened the link (Milestone.OPENED: assessed for eligibility)
    consented: int
    declined: int  # declined consent
    screened_out: int  # not eligible at screening
    study_full: int  # consented when every arm was full
    # timed out, returned, withdrew (or, never in the flow as built, left after a technical
    # problem) before allocation
    left_before_allocation: int
    awaiting_allocation: int  # still at consent or screening
    allocated: int
    arms: tuple[ArmFlow, ...]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["arms"] = {arm.key: asdict(arm) for arm in self.arms}
        return data


def consort_from_counts(*, arms: Sequence[ArmRef], counts: FlowCounts) -> Consort:
    events = counts.events
    flows = []
    after = {K.TIMED_OUT: 0, K.RETURNED: 0, K.WITHDRAWN: 0, K.TECHNICAL_PROBLEM: 0}
    for arm in arms:
        by_kind = counts.events_by_arm.get(arm.id, {})
        current = counts.current.get(arm.id, {})
        for kind in after:
            after[kind] += by_kind.get(kind, 0)
        flows.append(
            ArmFlow(
                key=arm.key,
                label=arm.label,
                allocated=counts.allocated.get(arm.id, 0),
                started=by_kind.get(K.BEGAN, 0),
                completed=by_kind.get(K.COMPLETED, 0),
                timed_out=by_kind.get(K.TIMED_OUT, 0) + by_kind.get(K.RETURNED, 0),
                technical_problem=by_kind.get(K.TECHNICAL_PROBLEM, 0),
                excluded=by_kind.get(K.FAILED_CHECK, 0),
                withdrawn=by_kind.get(K.WITHDRAWN, 0),
                in_progress=current.get("consented", 0),
                analysed=current.get("completed", 0),
                skipped_slots=counts.skipped.get(arm.id, 0),
            )
        )
    allocated = sum(counts.allocated.values())
    assessed = events.get(K.ENTERED, 0)
    declined = events.get(K.DECLINED, 0)
    screened_out = events.get(K.SCREENED_OUT, 0)
    study_full = events.get(K.STUDY_FULL, 0)
    # Events without an arm happened before allocation.
    left = sum(events.get(kind, 0) - n for kind, n in after.items())
    awaiting = assessed - allocated - declined - screened_out - study_full - left
    return Consort(
        assessed=assessed,
        consented=events.get(K.CONSENTED, 0),
        declined=declined,
        screened_out=screened_out,
        study_full=study_full,
        left_before_allocation=left,
        awaiting_allocation=max(awaiting, 0),
        allocated=allocated,
        arms=tuple(flows),
    )


def study_consort(*, study: Study, include_pilot: bool = False) -> Consort:
    arms = [
        ArmRef(id=pk, key=key, label=label)
        for pk, key, label in Arm.objects.filter(study=study)
        .order_by("key")
        .values_list("pk", "key", "participant_label")
    ]
    return consort_from_counts(
        arms=arms, counts=study_flow_counts(study=study, include_pilot=include_pilot)
    )


# --- The flow figure ---------------------------------------------------------------------

_GREY = "#9aa3ad"
# The words of participation.states, so the figure, the table and the study page agree.
_OUTCOMES = (
    ("in_progress", MILESTONE_TERMS[Milestone.IN_PROGRESS].label, "#56B4E9"),
    ("analysed", MILESTONE_TERMS[Milestone.ANALYSED].label, "#009E73"),
    ("timed_out", "Timed out or returned", "#E69F00"),
    ("technical_problem", STATE_TERMS[State.TECHNICAL_PROBLEM].label, "#F0E442"),
    ("excluded", STATE_TERMS[State.EXCLUDED_CHECK].label, "#D55E00"),
    ("withdrawn", STATE_TERMS[State.WITHDRAWN].label, "#CC79A7"),
)


def consort_figure(consort: Consort) -> dict:
    """A Sankey diagram: assessed -> not allocated / arms -> outcome per arm (as JSON)."""
    labels: list[str] = []
    colours: list[str] = []
    sources: list[int] = []
    targets: list[int] = []
    values: list[int] = []

    def node(label: str, n: int, colour: str) -> int:
        labels.append(f"{label} (n={n})")
        colours.append(colour)
        return len(labels) - 1

    def link(a: int, b: int, n: int) -> None:
        if n > 0:
            sources.append(a)
            targets.append(b)
            values.append(n)

    root = node("Opened the link (assessed)", consort.assessed, "#0072B2")
    for label, n in (
        ("Declined consent", consort.declined),
        ("Screened out", consort.screened_out),
        ("Study full", consort.study_full),
        ("Left before allocation", consort.left_before_allocation),
        ("Awaiting allocation", consort.awaiting_allocation),
    ):
        if n:
            link(root, node(label, n, _GREY), n)
    for arm in consort.arms:
        arm_node = node(f"Arm {arm.key}", arm.allocated, "#0072B2")
        link(root, arm_node, arm.allocated)
        for field, label, colour in _OUTCOMES:
            n = getattr(arm, field)
            if n:
                link(arm_node, node(f"{arm.key}: {label}", n, colour), n)
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": labels, "color": colours, "pad": 14, "thickness": 14},
            link={"source": sources, "target": targets, "value": values},
        )
    )
    fig.update_layout(
        template="none",
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
    )
    return json.loads(fig.to_json())
