"""One vocabulary of participant states (participation.states): the study list, the study
page's state table, CONSORT and the dashboard count the same people, for a study with
participants in every state, each built through the real services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.analysis.consort import study_consort
from studyapp.analysis.selectors import (
    AnswerFilters,
    dashboard,
    study_list_for_user,
    study_report,
)
from studyapp.participation.enrolment import participant_withdraw
from studyapp.participation.models import Participant
from studyapp.participation.selectors import participants_active_recent, study_state_counts
from studyapp.participation.services import (
    answer_submit,
    participant_answer_check,
    participant_answer_screening,
    participant_consent,
    participant_decline,
    participant_read_instructions,
    task_save_sources,
)
from studyapp.participation.states import STATES, State
from studyapp.participation.transitions import participant_record_entry, participant_set_status
from studyapp.studies.models import Study
from tests.factories import make_control_arm, make_scenario, make_study, make_user

S = State
SCREENING = [
    {"value": "yes", "label": "Eligible", "eligible": True},
    {"value": "no", "label": "Not eligible", "eligible": False},
]


def enter(study: Study) -> Participant:
    participant = Participant.objects.create(study=study)
    participant_record_entry(participant=participant)
    return participant


def consented(study: Study) -> Participant:
    return participant_consent(participant_id=enter(study).pk)


def allocated(study: Study) -> Participant:
    p = consented(study)
    return participant_answer_screening(participant_id=p.pk, value="yes")


def at_scenario(study: Study) -> Participant:
    p = allocated(study)
    participant_read_instructions(participant_id=p.pk)
    participant_answer_check(participant_id=p.pk, answer="yes")
    return p


def answering(study: Study) -> Participant:
    p = at_scenario(study)
    task_save_sources(participant_id=p.pk, position=1, sources_text="NHS")
    return p


def finished(study: Study) -> Participant:
    p = at_scenario(study)
    level = study.disposition_scale.levels.get(code="ae")
    for position in (1, 2):
        task_save_sources(participant_id=p.pk, position=position, sources_text="NHS")
        answer_submit(
            participant_id=p.pk,
            position=position,
            disposition_id=level.pk,
            conditions_text="appendicitis",
            confidence=50,
        )
    return p


def ended(p: Participant, status: str) -> None:
    participant = Participant.objects.select_related("study").get(pk=p.pk)
    participant_set_status(participant=participant, to=status)


@pytest.fixture
def every_state(db):
    """One participant in each state (two finished, so one can withdraw after), on a
    study with screening and an attention check; blocks of 2 over arms a and b."""
    study = make_study(
        "states",
        allocation_block_sizes=[2],
        allocation_seed=7,
        screening_question="Are you eligible?",
        screening_options=SCREENING,
        check_question="Are you paying attention?",
        check_options=["yes", "no"],
        check_answer="yes",
    )
    for key in ("s1", "s2"):
        make_scenario(study, key)
    make_control_arm(study, key="a")
    make_control_arm(study, key="b")

    enter(study)  # opened the link
    participant_decline(participant_id=enter(study).pk)
    consented(study)
    screened = consented(study)
    participant_answer_screening(participant_id=screened.pk, value="no")
    ended(consented(study), Participant.Status.STUDY_FULL)
    allocated(study)
    at_scenario(study)
    answering(study)
    finished(study)
    participant_withdraw(participant_id=finished(study).pk)
    careless = allocated(study)
    participant_read_instructions(participant_id=careless.pk)
    participant_answer_check(participant_id=careless.pk, answer="no")
    ended(allocated(study), Participant.Status.TIMED_OUT)
    ended(allocated(study), Participant.Status.RETURNED)
    ended(at_scenario(study), Participant.Status.TECHNICAL_PROBLEM)
    return study


def test_every_state_is_counted_once(every_state):
    counts = study_state_counts(study=every_state)
    assert {state: counts.total(state) for state in S} == dict.fromkeys(S, 1)
    # Nobody without an arm is in a state that needs one, and the reverse.
    no_arm = set(counts.by_arm.get(None, {}))
    assert no_arm == {S.OPENED, S.DECLINED, S.CONSENTED, S.SCREENED_OUT, S.STUDY_FULL}
    assert counts.at_position == {1: 2}  # at scenario 1, and answering it


def test_the_pages_counts_agree(every_state):
    study = every_state
    counts = study_state_counts(study=study)
    consort = study_consort(study=study)
    report = study_report(study=study)
    listed = study_list_for_user(user=make_user("root", superuser=True)).get(pk=study.pk)
    board = dashboard(study=study, filters=AnswerFilters(), blinded=False)

    everyone = len(STATES)
    # Opened the link: the study list, the state table, CONSORT's assessed.
    assert listed.n_opened == report.opened_total == consort.assessed == everyone
    # Allocated: the study list, the state table's arm columns, CONSORT.
    with_arm = sum(row.total for row in report.state_rows if row.key)
    assert listed.n_allocated == with_arm == consort.allocated == 9
    # Finished: the state, CONSORT's analysed, the study list.
    assert listed.n_finished == counts.total(S.FINISHED) == sum(a.analysed for a in consort.arms)
    # Before allocation, by CONSORT's words.
    assert consort.declined == counts.total(S.DECLINED)
    assert consort.screened_out == counts.total(S.SCREENED_OUT)
    assert consort.study_full == counts.total(S.STUDY_FULL)
    assert consort.awaiting_allocation == counts.total(S.OPENED) + counts.total(S.CONSENTED)
    # Per arm: CONSORT's columns are the states' (nobody here ended twice).
    for arm, row in zip(consort.arms, [r for r in report.state_rows if r.key], strict=True):
        assert arm.key == row.key
        assert arm.allocated == row.total
        assert arm.in_progress == sum(
            row.counts[s] for s in (S.ALLOCATED, S.AT_SCENARIO, S.ANSWERING)
        )
        assert arm.analysed == row.counts[S.FINISHED]
        assert arm.withdrawn == row.counts[S.WITHDRAWN]
        assert arm.excluded == row.counts[S.EXCLUDED_CHECK]
        assert arm.technical_problem == row.counts[S.TECHNICAL_PROBLEM]
        assert arm.timed_out == row.counts[S.TIMED_OUT] + row.counts[S.RETURNED]
    # The dashboard: allocated and not withdrawn.
    assert board.participants == with_arm - counts.total(S.WITHDRAWN) == 8


def test_the_pages_say_which_state_each_number_counts(client, every_state):
    client.force_login(make_user("root", superuser=True))
    listing = client.get(reverse("analysis:study_list")).content.decode()
    assert '<td class="num" data-count="opened">14</td>' in listing
    assert '<td class="num" data-count="allocated">9</td>' in listing
    assert '<td class="num" data-count="finished">1</td>' in listing
    assert "CONSORT&#x27;s &quot;assessed&quot;" in listing or 'CONSORT\'s "assessed"' in listing

    page = client.get(reverse("analysis:study_detail", args=[every_state.slug])).content.decode()
    assert 'id="participants-total">14</td>' in page
    assert '<strong id="consort-assessed">14</strong>' in page
    assert '<strong id="consort-allocated">9</strong>' in page
    # Every state's row is there, with its definition in the legend.
    for term in STATES:
        assert f'data-state="{term.code}"' in page
        assert f'<dt data-term="{term.code}">' in page
    assert "Pressed Start on the study link" in page
    assert "Reached scenario 1" in page  # CONSORT's "started" says what it counts
    assert "Started (not yet consented)" not in page


def test_the_monitor_lists_those_still_in_the_flow(every_state):
    active = participants_active_recent(study=every_state)
    assert sorted(p.state for p in active) == sorted(
        [S.OPENED, S.CONSENTED, S.ALLOCATED, S.AT_SCENARIO, S.ANSWERING]
    )
    assert {p.position for p in active if p.state in (S.AT_SCENARIO, S.ANSWERING)} == {1}
