"""The one vocabulary of where participants are: every investigator page and CONSORT
use these words and definitions.

Two kinds of number appear on the pages, and each says which it is:

- a **state** is where a participant is *now*. Every participant who opened the link is
  in exactly one state, so a table of states adds up to everyone who opened the link
  (withdrawn participants included: their rows are deleted, and the event log still
  counts them, anonymously).
- a **milestone** is a step a participant has *ever* reached (CONSORT's flow): someone
  who finished and then withdrew counts in "Ever finished" and in "Withdrawn".

Pure: `state_of` derives a state from the stored fields (Participant.status, whether an
arm was allocated, whether the tasks began, the current task's status); the SQL that
counts them is participation.selectors.study_state_counts. Nothing here reads the
database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Where a participant is now (in the order of the flow, then the ways out)."""

    OPENED = "opened"
    CONSENTED = "consented"
    ALLOCATED = "allocated"
    AT_SCENARIO = "at_scenario"
    ANSWERING = "answering"
    FINISHED = "finished"
    DECLINED = "declined"
    SCREENED_OUT = "screened_out"
    STUDY_FULL = "study_full"
    EXCLUDED_CHECK = "excluded_check"
    TIMED_OUT = "timed_out"
    RETURNED = "returned"
    TECHNICAL_PROBLEM = "technical_problem"
    WITHDRAWN = "withdrawn"


class Milestone(StrEnum):
    """A step of the flow a participant has ever reached (CONSORT)."""

    OPENED = "entered"
    CONSENTED = "ever_consented"
    ALLOCATED = "ever_allocated"
    BEGAN = "began"
    FINISHED = "ever_finished"
    IN_PROGRESS = "in_progress"
    ANALYSED = "analysed"


@dataclass(frozen=True)
class Term:
    code: str
    label: str
    definition: str


STATES: tuple[Term, ...] = (
    Term(State.OPENED, "Opened the link", "Pressed Start on the study link; not consented yet."),
    Term(
        State.CONSENTED,
        "Consented",
        "Agreed to take part; not allocated yet (the screening question is next).",
    ),
    Term(
        State.ALLOCATED,
        "Allocated",
        "Given an arm; reading the instructions or at the attention check, not yet at scenario 1.",
    ),
    Term(
        State.AT_SCENARIO,
        "At scenario k",
        "Working on a scenario: reading it, chatting with the model or noting sources.",
    ),
    Term(State.ANSWERING, "Answering", "Answering the questions of a scenario."),
    Term(
        State.FINISHED,
        "Finished",
        "Answered every scenario and is still in the study (CONSORT: analysed).",
    ),
    Term(State.DECLINED, "Declined consent", "Chose not to take part on the consent page."),
    Term(State.SCREENED_OUT, "Screened out", "Not eligible by the screening question."),
    Term(
        State.STUDY_FULL,
        "Study full",
        "Consented when every arm's quota was met; not allocated.",
    ),
    Term(
        State.EXCLUDED_CHECK,
        "Excluded by the attention check",
        "Failed the attention check as many times as the study allows.",
    ),
    Term(
        State.TIMED_OUT,
        "Timed out",
        "Inactive for longer than the study's time limit; the session ended.",
    ),
    Term(State.RETURNED, "Returned", "Returned the study on Prolific."),
    Term(
        State.TECHNICAL_PROBLEM,
        "Left after a technical problem",
        "Took the exit offered after the model failed repeatedly; data kept.",
    ),
    Term(
        State.WITHDRAWN,
        "Withdrawn",
        "Withdrew consent; their data was deleted and only the anonymous event log counts them.",
    ),
)

MILESTONES: tuple[Term, ...] = (
    Term(
        Milestone.OPENED,
        "Opened the link",
        "Everyone who ever pressed Start, whatever happened next "
        "(CONSORT: assessed for eligibility).",
    ),
    Term(Milestone.CONSENTED, "Ever consented", "Agreed to take part, at any time."),
    Term(
        Milestone.ALLOCATED,
        "Allocated",
        "Given an arm by the allocation ledger, withdrawn participants included.",
    ),
    Term(
        Milestone.BEGAN,
        "Reached scenario 1",
        "Allocated, read the instructions and passed any attention check "
        "(CONSORT: received the intervention).",
    ),
    Term(
        Milestone.FINISHED,
        "Ever finished",
        "Answered every scenario, including those who withdrew afterwards.",
    ),
    Term(
        Milestone.IN_PROGRESS,
        "In progress",
        "Allocated and not yet finished or ended: the states Allocated, At scenario k "
        "and Answering.",
    ),
    Term(
        Milestone.ANALYSED,
        "Finished (analysed)",
        "The state Finished: answered every scenario and still in the study.",
    ),
)

STATE_TERMS = {term.code: term for term in STATES}
MILESTONE_TERMS = {term.code: term for term in MILESTONES}

# States of participants still on their way through the study (the live monitor's "now").
ACTIVE_STATES = (
    State.OPENED,
    State.CONSENTED,
    State.ALLOCATED,
    State.AT_SCENARIO,
    State.ANSWERING,
)
# CONSORT's "in progress": allocated, not finished and not ended.
IN_PROGRESS_STATES = (State.ALLOCATED, State.AT_SCENARIO, State.ANSWERING)

# Participant.status (participation.models) of an ended session -> its state. The
# statuses of someone still in the flow (started, consented) are split further by
# state_of; tests check every status is covered.
_ENDED = {
    "completed": State.FINISHED,
    "consent_declined": State.DECLINED,
    "screened_out": State.SCREENED_OUT,
    "study_full": State.STUDY_FULL,
    "failed_check": State.EXCLUDED_CHECK,
    "timed_out": State.TIMED_OUT,
    "returned": State.RETURNED,
    "technical_problem": State.TECHNICAL_PROBLEM,
    "withdrawn": State.WITHDRAWN,
}


def state_of(*, status: str, allocated: bool, began: bool, answering: bool) -> State:
    """The state of a participant with this stored status; `allocated`: an arm is set;
    `began`: the tasks began (selectors.participant_has_begun); `answering`: their current
    task is at the questions."""
    if status in _ENDED:
        return _ENDED[status]
    if status == "started":
        return State.OPENED
    if status != "consented":
        raise ValueError(f"unknown participant status {status!r}")
    if not allocated:
        return State.CONSENTED
    if not began:
        return State.ALLOCATED
    return State.ANSWERING if answering else State.AT_SCENARIO
