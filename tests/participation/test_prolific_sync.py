"""Prolific in sync, against the scripted Prolific API over real HTTP: the client, the
status mapping, reclaiming returned and timed-out places, the command and the task."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from studyapp.participation.models import Participant, ParticipantEvent, Task
from studyapp.participation.prolific_api import (
    ProlificClient,
    ProlificError,
    ProlificNotConfiguredError,
)
from studyapp.participation.prolific_sync import planned_status, study_sync_prolific
from studyapp.participation.tasks import sync_prolific_task
from studyapp.studies.models import Study
from tests.factories import make_control_arm, make_scenario, make_study
from tests.participation.conftest import Flow, enter
from tests.participation.prolific_support import PROLIFIC_STUDY, pid, prolific_in_use

S = Participant.Status


@pytest.fixture
def prolific(db, settings, monkeypatch):
    return prolific_in_use(settings, monkeypatch)


def prolific_study(slug: str = "on-prolific", **kwargs) -> Study:
    """One arm, two scenarios, each participant sees both, one response per cell: the
    first participant who begins fills the study."""
    defaults = {
        "prolific_study_id": PROLIFIC_STUDY,
        "quota_per_cell": 1,
        "completion_url": "https://app.prolific.com/submissions/complete",
        "code_study_full": "FULL0001",
    }
    defaults.update(kwargs)
    study = make_study(slug, **defaults)
    for key in ("s1", "s2"):
        make_scenario(study, key)
    make_control_arm(study)
    return study


def begin_from_prolific(study: Study, n: int, session: str = "") -> Flow:
    flow = enter(Client(), study, PROLIFIC_PID=pid(n), STUDY_ID=PROLIFIC_STUDY, SESSION_ID=session)
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    return flow


def entry_page(study: Study) -> str:
    url = reverse("participation:entry", kwargs={"slug": study.slug})
    query = {"PROLIFIC_PID": pid(99), "STUDY_ID": PROLIFIC_STUDY}
    return Client().get(url, query).content.decode()


# --- The mapping (pure) -----------------------------------------------------------------

ACTIVE = (S.STARTED, S.CONSENTED)
ENDED = tuple(s for s in S.values if s not in ACTIVE)


@pytest.mark.parametrize("current", ACTIVE)
@pytest.mark.parametrize(
    ("theirs", "ours"), [("RETURNED", S.RETURNED), ("TIMED-OUT", S.TIMED_OUT)]
)
def test_a_session_active_here_follows_prolifics_return_or_timeout(current, theirs, ours):
    assert planned_status(prolific_status=theirs, current=current) == ours


def test_screened_out_on_prolific_applies_only_after_consent():
    # Before consent the status rules allow no screening out (nothing was asked yet).
    assert planned_status(prolific_status="SCREENED OUT", current=S.CONSENTED) == S.SCREENED_OUT
    assert planned_status(prolific_status="SCREENED OUT", current=S.STARTED) is None


@pytest.mark.parametrize(
    "theirs",
    ["RESERVED", "ACTIVE", "AWAITING REVIEW", "APPROVED", "REJECTED", "PARTIALLY APPROVED"],
)
@pytest.mark.parametrize("current", [*ACTIVE, *ENDED])
def test_statuses_that_say_nothing_about_leaving_change_nothing(theirs, current):
    assert planned_status(prolific_status=theirs, current=current) is None


@pytest.mark.parametrize("theirs", ["RETURNED", "TIMED-OUT", "SCREENED OUT"])
@pytest.mark.parametrize("current", ENDED)
def test_a_session_that_ended_here_keeps_its_own_record(theirs, current):
    assert planned_status(prolific_status=theirs, current=current) is None


# --- The client over HTTP ---------------------------------------------------------------


def test_the_client_reads_every_page_with_the_token(prolific):
    made = [
        prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(n)) for n in range(5)
    ]
    prolific.add_submission(study_id="another-study", participant_id=pid(9))
    found = ProlificClient.for_study("any").submissions(PROLIFIC_STUDY)
    assert [s.id for s in found] == [s.id for s in made]
    assert {s.participant_id for s in found} == {pid(n) for n in range(5)}
    gets = [r["path"] for r in prolific.requests()]
    assert len(gets) == 3  # pages of 2, 2 and 1, by following `next`
    assert gets[0] == f"/api/v1/studies/{PROLIFIC_STUDY}/submissions/"


def test_a_refused_token_is_a_clear_error_that_does_not_show_it(prolific):
    client = ProlificClient(token="not-the-token")
    with pytest.raises(ProlificError) as info:
        client.submissions(PROLIFIC_STUDY)
    assert info.value.status == 401
    assert "401" in str(info.value) and "not-the-token" not in str(info.value)


def test_a_server_error_and_an_unreachable_server_are_prolific_errors(prolific):
    prolific.fail_next(503)
    with pytest.raises(ProlificError, match="503"):
        ProlificClient.for_study("x").submissions(PROLIFIC_STUDY)
    with pytest.raises(ProlificError, match="could not be reached"):
        ProlificClient(token="t", base_url="http://127.0.0.1:9", timeout=2).submissions("x")


def test_a_missing_token_names_the_variables_to_set(settings, monkeypatch):
    settings.PROLIFIC_TOKEN_ENV_PREFIX = "STUDYAPP_PROLIFIC_TOKEN_"
    monkeypatch.delenv("STUDYAPP_PROLIFIC_TOKEN_DEFAULT", raising=False)
    monkeypatch.delenv("STUDYAPP_PROLIFIC_TOKEN_MY_STUDY", raising=False)
    with pytest.raises(ProlificNotConfiguredError) as info:
        ProlificClient.for_study("my-study")
    assert "STUDYAPP_PROLIFIC_TOKEN_MY_STUDY or STUDYAPP_PROLIFIC_TOKEN_DEFAULT" in str(info.value)


def test_a_studys_own_token_wins_over_the_default(prolific, monkeypatch):
    monkeypatch.setenv("STUDYAPP_PROLIFIC_TOKEN_DEFAULT", "wrong")
    monkeypatch.setenv("STUDYAPP_PROLIFIC_TOKEN_MY_STUDY", prolific.token)
    assert ProlificClient.for_study("my-study").submissions(PROLIFIC_STUDY) == []


# --- Sync: the round trip ---------------------------------------------------------------


def test_a_participant_who_returned_on_prolific_frees_their_cells_for_the_next(prolific):
    study = prolific_study()
    first = begin_from_prolific(study, 1, session="aaaaaaaaaaaaaaaaaaaaaaaa")
    assert first.refresh().status == S.CONSENTED
    assert "This study is full" in entry_page(study)
    prolific.add_submission(
        id="aaaaaaaaaaaaaaaaaaaaaaaa",
        study_id=PROLIFIC_STUDY,
        participant_id=pid(1),
        status="RETURNED",
    )

    report = study_sync_prolific(study_id=study.pk)

    assert report.as_dict() == {
        "submissions": 1,
        "by_prolific_status": {"RETURNED": 1},
        "changed": {"returned": 1},
        "unmatched": 0,
        "mismatched": [],
    }
    assert first.refresh().status == S.RETURNED
    event = ParticipantEvent.objects.get(participant=first.participant, kind="returned")
    assert (event.from_status, event.reason) == (S.CONSENTED, "Prolific: RETURNED")
    # The cells are open again: a new participant from Prolific gets both of them.
    assert "This study is full" not in entry_page(study)
    second = begin_from_prolific(study, 2)
    assert second.refresh().status == S.CONSENTED
    assert set(
        Task.objects.filter(participant=second.participant).values_list("scenario__key", flat=True)
    ) == {"s1", "s2"}
    assert "This study is full" in entry_page(study)
    # Idempotent: a second sync changes nothing and writes no event.
    events = ParticipantEvent.objects.count()
    assert study_sync_prolific(study_id=study.pk).changed == {}
    assert ParticipantEvent.objects.count() == events


def test_a_participant_timed_out_by_prolific_is_reclaimed_too(prolific):
    study = prolific_study()
    first = begin_from_prolific(study, 1)
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1), status="TIMED-OUT")
    assert study_sync_prolific(study_id=study.pk).changed == {"timed_out": 1}
    assert first.refresh().status == S.TIMED_OUT
    assert "This study is full" not in entry_page(study)


def test_a_study_that_counts_the_timed_out_keeps_a_returned_participants_place(prolific):
    study = prolific_study(timed_out_count_toward_quota=True)
    first = begin_from_prolific(study, 1)
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED")
    study_sync_prolific(study_id=study.pk)
    assert first.refresh().status == S.RETURNED
    assert "This study is full" in entry_page(study)


def test_sync_reports_what_it_cannot_apply_and_fills_in_the_submission_id(prolific):
    study = prolific_study(quota_per_cell=None)
    still = begin_from_prolific(study, 1)  # ACTIVE on Prolific too
    left_early = begin_from_prolific(study, 2)  # submitted a code without finishing here
    screened = begin_from_prolific(study, 3)
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1), status="ACTIVE")
    sub2 = prolific.add_submission(
        study_id=PROLIFIC_STUDY, participant_id=pid(2), status="AWAITING REVIEW"
    )
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(3), status="SCREENED OUT")
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(4), status="RETURNED")

    report = study_sync_prolific(study_id=study.pk)

    assert report.by_prolific_status == {
        "ACTIVE": 1,
        "AWAITING REVIEW": 1,
        "SCREENED OUT": 1,
        "RETURNED": 1,
    }
    assert report.changed == {"screened_out": 1}
    assert report.unmatched == 1  # pid 4 never opened the link here
    assert report.mismatched == [left_early.participant.pk]
    assert still.refresh().status == S.CONSENTED
    assert screened.refresh().status == S.SCREENED_OUT
    # Opened without SESSION_ID: the submission id is filled in for reviews.
    assert left_early.refresh().prolific_session_id == sub2.id


def test_sync_needs_the_studys_prolific_id(prolific):
    study = prolific_study(prolific_study_id="")
    with pytest.raises(ProlificNotConfiguredError, match="no Prolific STUDY_ID"):
        study_sync_prolific(study_id=study.pk)


def test_the_command_prints_the_report(prolific):
    study = prolific_study()
    first = begin_from_prolific(study, 1)
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED")
    out = StringIO()
    call_command("sync_prolific", study.slug, stdout=out)
    assert json.loads(out.getvalue())["changed"] == {"returned": 1}
    assert first.refresh().status == S.RETURNED
    with pytest.raises(CommandError, match="No study"):
        call_command("sync_prolific", "nope")


def test_the_command_says_what_failed(prolific):
    study = prolific_study()
    prolific.fail_next(500)
    with pytest.raises(CommandError, match="Prolific answered 500"):
        call_command("sync_prolific", study.slug)


def test_the_scheduled_task_syncs_live_prolific_studies_only(prolific):
    live = prolific_study("live-one")
    draft = prolific_study("draft-one", status=Study.Status.DRAFT)
    make_study("not-on-prolific")
    first = begin_from_prolific(live, 1)
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED")
    assert sync_prolific_task() == 1
    assert first.refresh().status == S.RETURNED
    assert draft.participants.count() == 0


def test_the_scheduled_task_syncs_a_paused_study_whose_participants_still_submit(prolific):
    study = prolific_study("paused-one")
    first = begin_from_prolific(study, 1)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED")
    assert sync_prolific_task() == 1
    assert first.refresh().status == S.RETURNED


def test_the_scheduled_task_skips_a_study_without_a_token(prolific, monkeypatch):
    monkeypatch.delenv("STUDYAPP_PROLIFIC_TOKEN_DEFAULT")
    prolific_study()
    assert sync_prolific_task() == 0
    assert prolific.requests() == []
