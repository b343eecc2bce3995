"""The pilot phase: real participants through the real entry, consent and allocation,
labelled pilot, left out of the main analysis unless asked for, taking no place in the
main phase's quotas; at launch kept or cleared by an explicit choice, the main phase's
allocation starting at a fresh block either way."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from studyapp.analysis.consort import study_consort
from studyapp.analysis.exports import PARTICIPANTS, TASKS, arm_names_for, rows
from studyapp.analysis.selectors import AnswerFilters, dashboard, study_report
from studyapp.audit.models import AuditEntry
from studyapp.participation.allocation import Design, slots, unbalanced_blocks
from studyapp.participation.enrolment import cell_counts, participant_withdraw
from studyapp.participation.models import Allocation, Participant, ParticipantEvent
from studyapp.participation.prolific import ProlificParams
from studyapp.participation.selectors import study_state_counts
from studyapp.participation.services import (
    participant_consent,
    participant_enter,
    participant_read_instructions,
)
from studyapp.participation.verification import study_verify_allocation
from studyapp.studies.launch import LaunchRefusedError, study_launch, study_pilot_start
from studyapp.studies.models import Study
from tests.factories import make_member, make_user
from tests.participation.conftest import enter
from tests.studies.test_launch import ready_study

pytestmark = pytest.mark.django_db


def pilot_study(scripted, slug: str = "pilot") -> Study:
    study = ready_study(scripted.base_url, slug=slug, allocation_seed=20261128)
    study_pilot_start(study=study)
    return study


def join(study: Study, n: int, *, start: int = 0, begin: bool = True) -> list[Participant]:
    """n people through the entry and consent services (allocated at consent); `begin`:
    they read the instructions too (so they count toward quotas)."""
    out = []
    for i in range(start, start + n):
        participant = participant_enter(study=study, params=ProlificParams(pid=f"pid-{i}"))
        participant = participant_consent(participant_id=participant.pk)
        if begin:
            participant_read_instructions(participant_id=participant.pk)
        out.append(participant)
    return out


def finish(participants: list[Participant]) -> None:
    """Their sessions ended (timed out): no longer in progress."""
    Participant.objects.filter(pk__in=[p.pk for p in participants]).update(status="timed_out")


def test_the_link_enrols_pilot_participants_through_the_real_allocation(client, scripted):
    study = pilot_study(scripted)
    flow = enter(client, study, PROLIFIC_PID="pilot-pid")
    assert flow.participant.is_pilot
    flow.post("consent", {"agree": "1"})
    participant = flow.refresh()
    assert participant.arm is not None
    row = Allocation.objects.get(participant=participant)
    assert row.is_pilot and row.sequence == 1
    assert ParticipantEvent.objects.filter(participant=participant, is_pilot=True).count() >= 2
    # The participant's pages say nothing of a pilot.
    assert "pilot" not in flow.home().content.decode().lower()


def test_pilot_participants_are_left_out_of_the_main_figures_unless_asked_for(scripted):
    study = pilot_study(scripted)
    join(study, 3)
    assert study_state_counts(study=study).total() == 0
    assert study_state_counts(study=study, include_pilot=True).total() == 3
    assert study_consort(study=study).allocated == 0
    assert study_consort(study=study, include_pilot=True).allocated == 3
    assert sum(a.participants.get("consented", 0) for a in study_report(study=study).arms) == 0
    report = study_report(study=study, include_pilot=True)
    assert report.pilot_participants == 3 and report.pilot_included
    assert dashboard(study=study, filters=AnswerFilters(), blinded=False).participants == 0
    included = AnswerFilters(include_pilot=True)
    assert dashboard(study=study, filters=included, blinded=False).participants == 3
    arms = arm_names_for(study=study)
    assert list(rows(PARTICIPANTS, study=study, arms=arms, blinded=False)) == []
    with_pilot = list(
        rows(PARTICIPANTS, study=study, arms=arms, blinded=False, include_pilot=True)
    )
    columns = [c.name for c in PARTICIPANTS.visible_columns(blinded=False)]
    assert [row[columns.index("is_pilot")] for row in with_pilot] == [True] * 3
    assert len(list(rows(TASKS, study=study, arms=arms, blinded=False, include_pilot=True))) == 6


def test_a_pilot_withdrawal_stays_out_of_the_main_consort(scripted):
    study = pilot_study(scripted)
    [participant] = join(study, 1)
    participant_withdraw(participant_id=participant.pk)
    # The withdrawal's events are anonymous now: their own is_pilot keeps them out.
    assert ParticipantEvent.objects.filter(study=study, participant=None, is_pilot=True).exists()
    assert study_consort(study=study).assessed == 0
    assert study_consort(study=study, include_pilot=True).assessed == 1
    assert study_state_counts(study=study).total() == 0
    assert study_state_counts(study=study, include_pilot=True).total() == 1


def test_the_study_page_and_dashboard_say_the_pilot_is_left_out_and_offer_it(client, scripted):
    study = pilot_study(scripted)
    join(study, 2)
    user = make_user("owner")
    make_member(study, user, "owner")
    client.force_login(user)
    detail = reverse("analysis:study_detail", args=[study.slug])
    page = client.get(detail).content.decode()
    assert "are left out of these figures" in page and "?pilot=include" in page
    response = client.get(detail, {"pilot": "include"})
    assert response.context["report"].pilot_included
    assert "Pilot included" in response.content.decode()
    dash = client.get(reverse("analysis:dashboard", args=[study.slug]), {"pilot": "include"})
    assert dash.context["dashboard"].participants == 2
    assert "pilot=include" in dash.context["export_query"]
    export = client.get(
        reverse("analysis:export_table", args=[study.slug, "participants", "csv"]),
        {"pilot": "include"},
    )
    body = b"".join(export.streaming_content).decode()
    assert "is_pilot" in body.splitlines()[0] and body.count("\n") == 3


def test_pilot_participants_take_no_place_in_the_main_quotas(scripted):
    study = pilot_study(scripted)
    join(study, 4)
    assert sum(cell_counts(study=study, pilot=True).values()) == 8
    assert cell_counts(study=study) == {}


def _finish_pilot_and_launch(scripted, pilot_data: str, n_pilot: int = 3):
    study = pilot_study(scripted)
    pilot = join(study, n_pilot)
    finish(pilot)
    study_launch(study=study, pilot_data=pilot_data)
    study.refresh_from_db()
    return study, pilot


def test_launch_keeping_the_pilot_keeps_it_labelled(scripted):
    study, pilot = _finish_pilot_and_launch(scripted, "keep")
    assert study.status == Study.Status.LIVE
    assert Participant.objects.filter(pk__in=[p.pk for p in pilot], is_pilot=True).count() == 3
    main = join(study, 2, start=100)
    assert not any(p.is_pilot for p in main)
    assert study_state_counts(study=study).total() == 2
    entry = AuditEntry.objects.get(study=study, action="pilot_keep")
    assert entry.detail["participants"] == 3


def test_launch_clearing_the_pilot_deletes_it_and_records_the_counts(scripted):
    study, pilot = _finish_pilot_and_launch(scripted, "clear")
    assert not Participant.objects.filter(pk__in=[p.pk for p in pilot]).exists()
    assert not ParticipantEvent.objects.filter(study=study, is_pilot=True).exists()
    # The ledger keeps the pilot's slots, without anyone: the sequence stays verifiable.
    pilot_rows = Allocation.objects.filter(study=study, is_pilot=True)
    assert pilot_rows.filter(outcome="assigned", participant__isnull=True).count() == 3
    entry = AuditEntry.objects.get(study=study, action="pilot_clear")
    assert entry.detail["participants"] == 3 and entry.detail["tasks"] == 6
    join(study, 5, start=100)
    assert study_verify_allocation(study=study).ok
    assert study_consort(study=study).allocated == 5


def test_clearing_is_refused_while_a_pilot_participant_is_doing_the_tasks(scripted):
    study = pilot_study(scripted)
    join(study, 2)
    with pytest.raises(LaunchRefusedError) as refused:
        study_launch(study=study, pilot_data="clear")
    assert [p.code for p in refused.value.problems] == ["pilot_in_progress"]
    study.refresh_from_db()
    assert study.status == Study.Status.PILOT
    assert Participant.objects.filter(study=study).count() == 2


def test_launching_a_pilot_needs_the_explicit_choice(scripted):
    study = pilot_study(scripted)
    with pytest.raises(LaunchRefusedError) as refused:
        study_launch(study=study)
    assert [p.code for p in refused.value.problems] == ["pilot_choice"]


@pytest.mark.parametrize("pilot_data", ["keep", "clear"])
def test_the_main_phase_allocation_starts_at_a_fresh_block_and_stays_balanced(
    scripted, pilot_data
):
    # One pilot participant leaves the first block (of 2 or 4) unfinished.
    study, _pilot = _finish_pilot_and_launch(scripted, pilot_data, n_pilot=1)
    main = join(study, 12, start=100)
    design = Design.from_dict(study.allocation_state.design)
    ledger = list(Allocation.objects.filter(study=study).order_by("sequence"))
    # Gap-free, and exactly the seed's sequence: the pilot's slot, the rest of its block
    # closed, then the main phase.
    expected = slots(design, "", len(ledger))
    assert [(r.block, r.block_position, r.arm.key) for r in ledger] == [
        (s.block, s.position, s.arm) for s in expected
    ]
    main_rows = [r for r in ledger if not r.is_pilot]
    assert main_rows[0].block_position == 1
    assert {r.outcome for r in ledger if r.is_pilot} <= {"assigned", "pilot_end"}
    assert [r.participant_id for r in main_rows] == [p.pk for p in main]
    # Every block of the main phase is one of the seed's whole blocks, balanced.
    main_slots = [s for s, r in zip(expected, ledger, strict=True) if not r.is_pilot]
    assert unbalanced_blocks(design, main_slots) == []
    complete = {r.block for r in main_rows if r.block_position == r.block_size}
    for block in complete:
        arms = [r.arm.key for r in main_rows if r.block == block]
        assert arms.count("llm") == arms.count("control")
    assert study_verify_allocation(study=study).ok


def test_someone_on_the_consent_page_at_launch_joins_the_main_phase(scripted):
    study = pilot_study(scripted)
    waiting = participant_enter(study=study, params=ProlificParams(pid="late"))
    assert waiting.is_pilot
    study_launch(study=study, pilot_data="clear")
    participant = participant_consent(participant_id=waiting.pk)
    participant.refresh_from_db()
    assert not participant.is_pilot and participant.arm is not None
    assert not Allocation.objects.get(participant=participant).is_pilot
    assert not ParticipantEvent.objects.filter(participant=participant, is_pilot=True).exists()
    assert study_state_counts(study=study).total() == 1


def test_the_timeouts_look_after_pilot_participants_too(scripted):
    from studyapp.participation.enrolment import participants_expire_inactive

    study = pilot_study(scripted)
    Study.objects.filter(pk=study.pk).update(time_limit_minutes=5)
    [participant] = join(study, 1)
    later = timezone.now() + timezone.timedelta(minutes=30)
    assert participants_expire_inactive(now=later) == 1
    participant.refresh_from_db()
    assert participant.status == Participant.Status.TIMED_OUT


def test_the_monitor_lists_pilot_participants_labelled(client, scripted):
    study = pilot_study(scripted)
    [participant] = join(study, 1)
    user = make_user("owner")
    make_member(study, user, "owner")
    client.force_login(user)
    page = client.get(reverse("analysis:monitor", args=[study.slug])).content.decode()
    row = page.split(f'data-participant="{participant.pk}"', 1)[1].split("</tr>", 1)[0]
    assert ">pilot</span>" in row


# --- Pausing a pilot ----------------------------------------------------------------


def test_a_paused_pilot_holds_newcomers_and_those_inside_stay_in_the_pilot(client, scripted):
    from studyapp.participation.services import StudyPausedError
    from studyapp.studies.pausing import study_pause, study_resume

    study = pilot_study(scripted)
    waiting = participant_enter(study=study, params=ProlificParams(pid="inside"))
    owner = make_user("owner")
    paused = study_pause(study_id=study.pk, user=owner)
    assert paused.status == Study.Status.PILOT_PAUSED and paused.is_pilot and paused.is_paused
    with pytest.raises(StudyPausedError):
        participant_enter(study=paused, params=ProlificParams(pid="newcomer"))
    # One who entered before the pause consents during it: still a pilot participant, on
    # the pilot's allocation (a paused pilot is not a main phase).
    participant = participant_consent(participant_id=waiting.pk)
    participant.refresh_from_db()
    assert participant.is_pilot and participant.arm is not None
    assert Allocation.objects.get(participant=participant).is_pilot
    assert cell_counts(study=study) == {}
    resumed = study_resume(study_id=study.pk, user=owner)
    assert resumed.status == Study.Status.PILOT
    assert participant_enter(study=resumed, params=ProlificParams(pid="after")).is_pilot
    assert [
        e.after
        for e in AuditEntry.objects.filter(study=study, action__in=["pause", "resume"]).order_by(
            "pk"
        )
    ] == [
        {"status": "pilot_paused"},
        {"status": "pilot"},
    ]


def test_a_paused_pilot_can_be_launched_straight_away(scripted):
    from studyapp.studies.pausing import study_pause

    study = pilot_study(scripted)
    finish(join(study, 2))
    study = study_pause(study_id=study.pk, user=make_user("owner"))
    with pytest.raises(LaunchRefusedError) as refused:
        study_launch(study=study)  # still the pilot: keep or clear must be chosen
    assert [p.code for p in refused.value.problems] == ["pilot_choice"]
    study_launch(study=study, pilot_data="keep")
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE
    assert AuditEntry.objects.get(study=study, action="pilot_keep").detail["participants"] == 2
    [main] = join(study, 1, start=100)
    assert not main.is_pilot
    assert study_verify_allocation(study=study).ok


def test_the_study_page_offers_pausing_the_pilot_then_resuming_or_launching(client, scripted):
    study = pilot_study(scripted)
    user = make_user("owner")
    make_member(study, user, "owner")
    client.force_login(user)
    detail = reverse("analysis:study_detail", args=[study.slug])
    page = client.get(detail).content.decode()
    assert "Pause the pilot" in page and 'id="launch-link"' in page
    confirm = client.get(reverse("studies:pause", args=[study.slug])).content.decode()
    assert 'id="confirm-pause"' in confirm and "resuming goes back to the pilot" in confirm
    client.post(reverse("studies:pause", args=[study.slug]))
    page = client.get(detail).content.decode()
    assert "Pilot paused:" in page and "Resume the pilot" in page and 'id="launch-link"' in page
    assert 'id="pause-link"' not in page
    launch = client.get(reverse("studies:launch", args=[study.slug]))
    assert launch.context["actions"] == ("launch",) and launch.context["pilot"] is not None
    monitor = client.get(reverse("analysis:monitor", args=[study.slug])).content.decode()
    assert 'id="paused-notice"' in monitor and "Pilot paused" in monitor
    client.post(reverse("studies:resume", args=[study.slug]))
    study.refresh_from_db()
    assert study.status == Study.Status.PILOT


# --- The pilot's people stay out of the main phase ------------------------------------


def test_a_cleared_pilot_participant_is_not_enrolled_again_in_the_main_phase(client, scripted):
    from studyapp.participation.models import ClearedPilotPid
    from studyapp.participation.pilot import pilot_counts
    from studyapp.participation.services import AlreadyTookPartError

    study = pilot_study(scripted)
    pilot = join(study, 2)
    finish(pilot)
    assert pilot_counts(study=study).prolific_ids == 2
    study_launch(study=study, pilot_data="clear")
    study.refresh_from_db()
    assert not Participant.objects.filter(study=study).exists()
    # Only keyed digests are kept: no PID in the table.
    digests = list(
        ClearedPilotPid.objects.filter(study=study).values_list("pid_digest", flat=True)
    )
    assert len(digests) == 2 and not {"pid-0", "pid-1"} & set(digests)
    entry = AuditEntry.objects.get(study=study, action="pilot_clear")
    assert entry.detail["prolific_ids"] == 2
    with pytest.raises(AlreadyTookPartError):
        participant_enter(study=study, params=ProlificParams(pid="pid-0"))
    # Through the link, with the page that says why; nobody is created.
    url = reverse("participation:entry", args=[study.slug])
    for response in (
        client.get(url, {"PROLIFIC_PID": "pid-1"}),
        client.post(url, {"PROLIFIC_PID": "pid-1"}),
    ):
        assert response.status_code == 200
        assert response.templates[0].name == "participation/already_took_part.html"
        assert "You have already taken part" in response.content.decode()
    assert not Participant.objects.filter(study=study).exists()
    # Someone new is enrolled as usual, in the main phase.
    assert not participant_enter(study=study, params=ProlificParams(pid="new")).is_pilot


def test_a_kept_pilot_participant_is_not_enrolled_again_either(scripted):
    from studyapp.participation.services import ResumeRefusedError

    study = pilot_study(scripted)
    [participant] = join(study, 1)
    finish([participant])
    study_launch(study=study, pilot_data="keep")
    # Known by their PID: never a second participant (a PID alone does not resume a
    # session that began, from another browser: participant_resume_for_entry).
    with pytest.raises(ResumeRefusedError):
        participant_enter(study=study, params=ProlificParams(pid="pid-0"))
    assert list(Participant.objects.filter(study=study)) == [participant]
