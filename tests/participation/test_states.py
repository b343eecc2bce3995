"""participation.states: one state for every stored status, one term for every state."""

from __future__ import annotations

import pytest

from studyapp.participation.models import Participant
from studyapp.participation.states import (
    MILESTONE_TERMS,
    STATE_TERMS,
    STATES,
    Milestone,
    State,
    state_of,
)


@pytest.mark.parametrize("status", Participant.Status.values)
def test_every_stored_status_has_a_state(status):
    for allocated in (False, True):
        for began in (False, True):
            for answering in (False, True):
                state = state_of(
                    status=status, allocated=allocated, began=began, answering=answering
                )
                assert state in State


def test_a_consented_participant_is_split_by_how_far_they_got():
    def of(**kwargs):
        return state_of(status="consented", **kwargs)

    assert of(allocated=False, began=False, answering=False) == State.CONSENTED
    assert of(allocated=True, began=False, answering=False) == State.ALLOCATED
    assert of(allocated=True, began=True, answering=False) == State.AT_SCENARIO
    assert of(allocated=True, began=True, answering=True) == State.ANSWERING
    assert state_of(status="started", allocated=False, began=False, answering=False) == (
        State.OPENED
    )
    assert state_of(status="failed_check", allocated=True, began=False, answering=False) == (
        State.EXCLUDED_CHECK
    )


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown participant status"):
        state_of(status="paused", allocated=False, began=False, answering=False)


def test_every_state_and_milestone_has_one_term_with_a_definition():
    assert [term.code for term in STATES] == list(State)
    assert set(STATE_TERMS) == set(State) and set(MILESTONE_TERMS) == set(Milestone)
    for term in (*STATE_TERMS.values(), *MILESTONE_TERMS.values()):
        assert term.label and term.definition.endswith(".")
    labels = [term.label for term in STATES]
    assert len(set(labels)) == len(labels)
