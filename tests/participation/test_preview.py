"""An investigator's preview of the participant's path (participation.preview): no slot,
no quota, the ordinary participant pages with a banner, any study status."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.participation.access import session_link_ids
from studyapp.participation.enrolment import cell_counts_with_balance
from studyapp.participation.models import (
    Allocation,
    AllocationState,
    Participant,
    ParticipantEvent,
    Task,
)
from studyapp.participation.selectors import study_participants_with_state
from studyapp.participation.services import participant_consent, task_start_answering
from studyapp.participation.transitions import participant_record_entry
from studyapp.studies.models import Study
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_scenario,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db

BANNER = 'id="preview-banner"'


def _study(slug: str, status: str = Study.Status.LIVE) -> Study:
    study = make_study(slug, status=status, scenarios_per_participant=1)
    make_scenario(study, "belly")
    make_scenario(study, "back", level_code="self_care")
    make_llm_arm(study, make_endpoint(), key="llm")
    make_control_arm(study, key="ctl")
    return study


@pytest.fixture
def study():
    return _study("prev")


@pytest.fixture
def owner(study):
    user = make_user("owner")
    make_member(study, user)
    return user


def _preview(client, study, arm_key="llm", scenario_key="back"):
    return client.post(
        reverse("studies:preview", args=[study.slug]),
        {
            "arm": study.arms.get(key=arm_key).pk,
            "scenario": study.scenarios.get(key=scenario_key).pk,
        },
    )


def _enrol_one(study: Study) -> Participant:
    participant = Participant.objects.create(study=study, prolific_pid="real-1")
    participant_record_entry(participant=participant)
    return participant_consent(participant_id=participant.pk)


def test_a_preview_takes_no_slot_and_no_quota(client, study, owner):
    real = _enrol_one(study)
    assert real.arm_id is not None
    ledger = list(Allocation.objects.filter(study=study).values_list("pk", flat=True))
    last_sequence = AllocationState.objects.get(study=study).last_sequence
    quotas = cell_counts_with_balance(study=study, pending_since=real.created_at)

    client.force_login(owner)
    response = _preview(client, study, arm_key="ctl", scenario_key="back")

    preview = Participant.objects.get(study=study, is_preview=True)
    assert response.status_code == 302
    assert response["Location"] == reverse("participation:home", args=[preview.token])
    assert preview.link_id in session_link_ids(client.session)
    assert (preview.arm.key, preview.status) == ("ctl", Participant.Status.CONSENTED)
    assert [(t.scenario.key, t.status) for t in preview.tasks.all()] == [("back", "active")]
    assert list(Allocation.objects.filter(study=study).values_list("pk", flat=True)) == ledger
    assert AllocationState.objects.get(study=study).last_sequence == last_sequence
    assert cell_counts_with_balance(study=study, pending_since=real.created_at) == quotas
    assert not Allocation.objects.filter(participant=preview).exists()


def test_the_preview_walks_the_participant_pages_with_a_banner(client, study, owner):
    client.force_login(owner)
    home = _preview(client, study)["Location"]
    preview = Participant.objects.get(is_preview=True)

    instructions = client.get(home)
    assert instructions.templates[0].name == "participation/instructions.html"
    assert BANNER in instructions.content.decode()
    assert "not recorded in results" in instructions.content.decode()
    client.post(reverse("participation:instructions", args=[preview.token]))

    chat = client.get(home)
    html = chat.content.decode()
    assert chat.templates[0].name == "participation/task.html"
    assert BANNER in html
    assert "You are playing the part of someone (back)." in html

    task = Task.objects.get(participant=preview)
    task_start_answering(task_id=task.pk)
    level = study.disposition_scale.levels.get(code="self_care")
    answered = client.post(
        reverse("participation:answer", args=[preview.token, 1]),
        {"disposition": level.pk, "conditions_text": "muscle strain", "confidence": 60},
    )
    assert answered.status_code == 302
    preview.refresh_from_db()
    assert preview.status == Participant.Status.COMPLETED
    assert Task.objects.get(pk=task.pk).answer.conditions_correct is False
    done = client.get(home)
    assert done.templates[0].name == "participation/complete.html"
    assert BANNER in done.content.decode()


def test_a_real_participant_sees_no_banner(client, study):
    real = _enrol_one(study)
    html = client.get(reverse("participation:home", args=[real.token])).content.decode()
    assert BANNER not in html


def test_a_draft_study_can_be_previewed_while_its_link_stays_closed(client):
    draft = _study("draft-prev", status=Study.Status.DRAFT)
    user = make_user("drafter")
    make_member(draft, user)
    client.force_login(user)

    home = _preview(client, draft, arm_key="llm", scenario_key="belly")["Location"]

    assert client.get(home).templates[0].name == "participation/instructions.html"
    # The study's own link, in the same browser: not the preview, and nobody enrolled.
    entry = client.post(reverse("participation:entry", args=[draft.slug]))
    assert entry.templates[0].name == "participation/not_open.html"
    assert Participant.objects.filter(study=draft).count() == 1


def test_the_live_link_in_the_same_browser_enrols_anew_rather_than_resume_the_preview(
    client, study, owner
):
    client.force_login(owner)
    _preview(client, study)
    preview = Participant.objects.get(is_preview=True)
    response = client.post(reverse("participation:entry", args=[study.slug]))
    assert response.status_code == 302
    assert response["Location"] != reverse("participation:home", args=[preview.token])


def test_the_study_page_offers_the_preview_to_those_who_change_the_study(client, study, owner):
    client.force_login(owner)
    html = client.get(reverse("analysis:study_detail", args=[study.slug])).content.decode()
    assert 'id="preview-form"' in html
    assert "belly v1: Scenario belly" in html

    analyst = make_user("analyst")
    make_member(study, analyst, "analyst")
    client.force_login(analyst)
    html = client.get(reverse("analysis:study_detail", args=[study.slug])).content.decode()
    assert 'id="preview-form"' not in html


@pytest.mark.parametrize("role", [None, "analyst", "auditor"])
def test_a_preview_needs_the_right_to_change_the_study(client, study, role):
    user = make_user("someone")
    if role:
        make_member(study, user, role)
    client.force_login(user)
    assert _preview(client, study).status_code == 404
    assert not Participant.objects.filter(is_preview=True).exists()


def test_it_is_post_only_and_signed_in(client, study, owner):
    url = reverse("studies:preview", args=[study.slug])
    assert client.post(url).status_code == 302  # to the login page
    client.force_login(owner)
    assert client.get(url).status_code == 405


def test_an_arm_or_scenario_of_another_study_is_refused(client, study, owner):
    other = _study("other-prev")
    client.force_login(owner)
    response = client.post(
        reverse("studies:preview", args=[study.slug]),
        {"arm": other.arms.get(key="llm").pk, "scenario": study.scenarios.get(key="back").pk},
    )
    assert response["Location"] == reverse("analysis:study_detail", args=[study.slug])
    assert not Participant.objects.filter(is_preview=True).exists()
    response = client.post(
        reverse("studies:preview", args=[study.slug]),
        {"arm": study.arms.get(key="llm").pk, "scenario": "x"},
        follow=True,
    )
    assert "Choose one of the study&#x27;s active scenarios." in response.content.decode()
    assert not Participant.objects.filter(is_preview=True).exists()


def test_a_withdrawn_preview_leaves_no_event(client, study, owner):
    client.force_login(owner)
    _preview(client, study)
    preview = Participant.objects.get(is_preview=True)
    client.post(reverse("participation:instructions", args=[preview.token]))
    response = client.post(reverse("participation:withdraw", args=[preview.token]))
    assert response.status_code == 200
    assert not Participant.objects.filter(is_preview=True).exists()
    assert not ParticipantEvent.objects.filter(study=study).exists()


def test_the_api_participant_list_leaves_previews_out(client, study, owner):
    real = _enrol_one(study)
    client.force_login(owner)
    _preview(client, study)
    assert Participant.objects.filter(study=study).count() == 2
    assert [p.pk for p in study_participants_with_state(study=study)] == [real.pk]
