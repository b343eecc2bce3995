"""CONSORT numbers per arm, from the ledger and the event log, on the page and in JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from studyapp.analysis.consort import ArmRef, consort_figure, consort_from_counts, study_consort
from studyapp.participation.enrolment import participant_withdraw, participants_expire_inactive
from studyapp.participation.models import Participant
from studyapp.participation.selectors import FlowCounts
from studyapp.participation.services import (
    answer_submit,
    participant_answer_check,
    participant_consent,
    participant_decline,
    participant_read_instructions,
    task_save_sources,
)
from studyapp.participation.transitions import participant_record_entry
from tests.factories import make_control_arm, make_member, make_scenario, make_study, make_user

FATES = [
    "in_progress",
    "analysed",
    "timed_out",
    "technical_problem",
    "excluded",
    "withdrawn",
    "done_then_withdrawn",
]


def enter(study) -> Participant:
    participant = Participant.objects.create(study=study)
    participant_record_entry(participant=participant)
    return participant


def complete(participant: Participant) -> None:
    participant_read_instructions(participant_id=participant.pk)
    participant_answer_check(participant_id=participant.pk, answer="yes")
    level = participant.study.disposition_scale.levels.get(code="ae")
    for position in (1, 2):
        task_save_sources(participant_id=participant.pk, position=position, sources_text="NHS")
        answer_submit(
            participant_id=participant.pk,
            position=position,
            disposition_id=level.pk,
            conditions_text="appendicitis",
            confidence=50,
        )


@pytest.fixture
def flow_study(db):
    """Known fates: 12 entered; 1 declined, 1 timed out before consent, 10 allocated
    (blocks of 2, arms a and b): per arm 1 completed, 1 completed-then-withdrawn,
    1 in progress, 1 timed out, 1 failed the check."""
    study = make_study(
        "flow",
        allocation_block_sizes=[2],
        allocation_seed=11,
        time_limit_minutes=30,
        check_question="Are you paying attention?",
        check_options=["yes", "no"],
        check_answer="yes",
    )
    for key in ("s1", "s2"):
        make_scenario(study, key)
    make_control_arm(study, key="a")
    make_control_arm(study, key="b")

    participant_decline(participant_id=enter(study).pk)
    early = enter(study)
    allocated = [participant_consent(participant_id=enter(study).pk) for _ in range(10)]
    by_arm: dict[str, list[Participant]] = {"a": [], "b": []}
    for p in allocated:
        by_arm[p.arm.key].append(p)
    stale = [early]
    for done, done_then_gone, _in_progress, late, careless in by_arm.values():
        complete(done)
        complete(done_then_gone)
        participant_withdraw(participant_id=done_then_gone.pk)
        stale.append(late)
        participant_read_instructions(participant_id=careless.pk)
        participant_answer_check(participant_id=careless.pk, answer="no")
    past = timezone.now() - timedelta(minutes=31)
    Participant.objects.filter(pk__in=[p.pk for p in stale]).update(last_seen_at=past)
    assert participants_expire_inactive() == 3
    return study


def test_it_counts_the_known_flow_per_arm(flow_study):
    consort = study_consort(study=flow_study)
    assert (consort.assessed, consort.consented, consort.allocated) == (12, 10, 10)
    assert (consort.declined, consort.left_before_allocation) == (1, 1)
    assert consort.screened_out == consort.study_full == consort.awaiting_allocation == 0
    for arm in consort.arms:
        assert arm.allocated == 5
        assert arm.started == 2  # the two who passed the check
        assert arm.completed == 2
        assert arm.withdrawn == 1
        assert arm.in_progress == 1
        assert arm.timed_out == 1
        assert arm.excluded == 1
        assert arm.analysed == 1


def test_the_study_page_shows_the_table_and_the_flow_figure(client, flow_study):
    alice = make_user("alice")
    make_member(flow_study, alice)
    client.force_login(alice)
    response = client.get(reverse("analysis:study_detail", args=[flow_study.slug]))
    html = response.content.decode()
    assert 'id="consort"' in html
    assert '<strong id="consort-allocated">10</strong>' in html
    assert '<td class="num" data-consort="analysed">1</td>' in html
    figure = response.context["consort_figure"]
    assert figure["data"][0]["type"] == "sankey"
    assert 'id="consort-flow" type="application/json"' in html
    # plotly.js is served from our own static files, never from a CDN.
    assert "/static/vendor/plotly-" in html
    assert "cdn.plot.ly" not in html


def test_study_report_json_carries_the_consort_numbers(flow_study):
    out = StringIO()
    call_command("study_report", flow_study.slug, "--format", "json", stdout=out)
    consort = json.loads(out.getvalue())["consort"]
    assert consort["assessed"] == 12 and consort["allocated"] == 10
    assert set(consort["arms"]) == {"a", "b"}
    assert consort["arms"]["a"] == {
        "key": "a",
        "label": "AI assistant",
        "allocated": 5,
        "started": 2,
        "completed": 2,
        "timed_out": 1,
        "technical_problem": 0,
        "excluded": 1,
        "withdrawn": 1,
        "in_progress": 1,
        "analysed": 1,
        "skipped_slots": 0,
    }


@settings(max_examples=100, deadline=None)
@given(
    fates=st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.sampled_from(FATES)), max_size=60),
    before=st.lists(
        st.sampled_from(["declined", "screened_out", "study_full", "left", "waiting"]),
        max_size=20,
    ),
)
def test_every_participant_lands_in_exactly_one_box(fates, before):
    """Build the counts the services would write for given fates; the boxes add up."""
    counts = FlowCounts()
    events = counts.events

    def event(kind: str, arm: int | None = None) -> None:
        events[kind] = events.get(kind, 0) + 1
        if arm is not None:
            per_arm = counts.events_by_arm.setdefault(arm, {})
            per_arm[kind] = per_arm.get(kind, 0) + 1

    def now(arm: int, status: str) -> None:
        current = counts.current.setdefault(arm, {})
        current[status] = current.get(status, 0) + 1

    for fate in before:
        event("entered")
        if fate == "declined":
            event("consent_declined")
        elif fate in ("screened_out", "study_full"):
            event("consented")
            event(fate)
        elif fate == "left":
            event("timed_out")
    for arm, fate in fates:
        event("entered")
        event("consented", arm)
        counts.allocated[arm] = counts.allocated.get(arm, 0) + 1
        if fate == "excluded":
            event("failed_check", arm)
            continue
        event("began", arm)
        if fate == "in_progress":
            now(arm, "consented")
        elif fate == "analysed":
            event("completed", arm)
            now(arm, "completed")
        elif fate == "timed_out":
            event("timed_out", arm)
        elif fate == "technical_problem":
            event("technical_problem", arm)
            now(arm, "technical_problem")
        elif fate == "withdrawn":
            event("withdrawn", arm)
        else:
            event("completed", arm)
            event("withdrawn", arm)
    arms = [ArmRef(id=i, key=f"arm{i}", label="x") for i in (1, 2, 3)]
    consort = consort_from_counts(arms=arms, counts=counts)
    assert consort.assessed == len(before) + len(fates)
    assert consort.allocated == len(fates)
    assert consort.assessed == (
        consort.allocated
        + consort.declined
        + consort.screened_out
        + consort.study_full
        + consort.left_before_allocation
        + consort.awaiting_allocation
    )
    assert consort.awaiting_allocation == before.count("waiting")
    for arm in consort.arms:
        assert arm.allocated == (
            arm.in_progress
            + arm.analysed
            + arm.timed_out
            + arm.technical_problem
            + arm.excluded
            + arm.withdrawn
        )
    figure = consort_figure(consort)
    links = figure["data"][0]["link"]
    assert sum(v for s, v in zip(links["source"], links["value"], strict=True) if s == 0) == (
        consort.assessed
    )
