"""The builder's recruitment pages: allocation and quotas, screening and the attention
check, Prolific (studies.views_recruitment, studies.builder_recruitment). What was the
admin's JSON, as forms, with the participant flow reading what they save."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.participation.models import Allocation, Participant
from studyapp.studies import builder_recruitment
from studyapp.studies.builder import BuilderError
from studyapp.studies.models import Study
from studyapp.studies.roles import Role
from tests.factories import (
    make_control_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
)
from tests.participation.conftest import enter


@pytest.fixture
def draft(alice) -> Study:
    study = make_study("draft", status=Study.Status.DRAFT, title="Draft study")
    make_member(study, alice)
    make_control_arm(study, key="a", weight=2)
    make_control_arm(study, key="b", weight=1)
    make_scenario(study, "s1")
    make_scenario(study, "s2")
    return study


def go_live(study: Study) -> None:
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
    study.refresh_from_db()


def last_change(study: Study) -> AuditEntry:
    return AuditEntry.objects.filter(study_id=study.pk, action="change").last()


# --- Allocation and quotas --------------------------------------------------------------


def allocation_data(**overrides):
    data = {
        "scenarios_per_participant": "2",
        "allocation_method": "blocks",
        "allocation_block_sizes": "",
        "stratum_source": "entry_parameter",
        "stratum_parameter": "",
        "stratum_values": "",
        "quota_per_arm": "",
        "quota_per_cell": "",
        "time_limit_minutes": "0",
        "technical_exit_after": "3",
    }
    data.update(overrides)
    return data


def post_allocation(client, study, **overrides):
    return client.post(
        reverse("studies:allocation", args=[study.slug]), allocation_data(**overrides)
    )


def test_it_saves_the_design_and_quotas_on_the_audit_trail(client, alice, draft):
    client.force_login(alice)
    response = post_allocation(
        client,
        draft,
        allocation_method="stratified_blocks",
        allocation_block_sizes="3, 6 9",
        stratum_parameter="site",
        stratum_values="leeds\nyork\n\nleeds",
        quota_per_arm="40",
        quota_per_cell="15",
        time_limit_minutes="45",
        timed_out_count_toward_quota="on",
        technical_exit_after="2",
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.allocation_method == "stratified_blocks"
    assert draft.allocation_block_sizes == [3, 6, 9]
    assert (draft.stratum_parameter, draft.stratum_values) == ("site", ["leeds", "york"])
    assert (draft.quota_per_arm, draft.quota_per_cell, draft.time_limit_minutes) == (40, 15, 45)
    assert draft.timed_out_count_toward_quota and draft.technical_exit_after == 2
    entry = last_change(draft)
    assert entry.actor == alice
    assert entry.after["allocation_block_sizes"] == [3, 6, 9]
    assert entry.after["quota_per_arm"] == 40


def test_the_page_shows_the_values_and_never_the_seed(client, alice, draft):
    Study.objects.filter(pk=draft.pk).update(
        allocation_block_sizes=[3, 6], allocation_seed=987654321
    )
    client.force_login(alice)
    html = client.get(reverse("studies:allocation", args=[draft.slug])).content.decode()
    assert 'value="3, 6"' in html and "(total 3)" in html
    assert "987654321" not in html


def test_a_block_size_that_is_no_multiple_of_the_weights_is_refused(client, alice, draft):
    client.force_login(alice)
    response = post_allocation(client, draft, allocation_block_sizes="3, 4, 8")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_allocation_block_sizes-error"' in html
    assert "weight total, 3: 4, 8 are not" in html
    response = post_allocation(client, draft, allocation_block_sizes="3, four")
    assert "“four” is not a whole number" in response.content.decode()
    # Simple randomisation has no blocks: the sizes are not judged.
    assert post_allocation(client, draft, allocation_method="simple").status_code == 302
    draft.refresh_from_db()
    assert draft.allocation_block_sizes == []


def test_each_stratum_mistake_is_shown_beside_its_field(client, alice, draft):
    client.force_login(alice)
    response = post_allocation(client, draft, allocation_method="stratified_blocks")
    html = response.content.decode()
    assert response.status_code == 400 and 'id="id_stratum_parameter-error"' in html
    assert "Name the entry-link parameter" in html
    response = post_allocation(
        client, draft, allocation_method="stratified_blocks", stratum_parameter="STUDY_ID"
    )
    assert "STUDY_ID is already a parameter of the entry link" in response.content.decode()
    response = post_allocation(
        client,
        draft,
        allocation_method="stratified_blocks",
        stratum_parameter="site",
        stratum_values="leeds\nnorth east",
    )
    html = response.content.decode()
    assert 'id="id_stratum_values-error"' in html and "“north east” can never arrive" in html
    response = post_allocation(
        client, draft, allocation_method="stratified_blocks", stratum_source="screening"
    )
    # The model's own rule, beside the field it names.
    assert "Stratifying by screening needs a screening question." in response.content.decode()
    draft.refresh_from_db()
    assert draft.allocation_method == "blocks"


def test_once_someone_entered_the_design_is_fixed_but_the_quotas_change(client, alice, draft):
    make_participant(draft)
    client.force_login(alice)
    url = reverse("studies:allocation", args=[draft.slug])
    html = client.get(url).content.decode()
    assert 'id="allocation-fixed"' in html
    assert re.search(r'<input[^>]*name="allocation_block_sizes"[^>]*disabled', html)
    assert "Fixed: the study is a draft with participants." in html
    assert not re.search(r'<input[^>]*name="quota_per_arm"[^>]*disabled', html)
    response = post_allocation(
        client, draft, allocation_method="simple", scenarios_per_participant="1", quota_per_arm="9"
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.allocation_method, draft.scenarios_per_participant) == ("blocks", 2)
    assert draft.quota_per_arm == 9


def test_a_preview_does_not_fix_the_design(client, alice, draft):
    make_participant(draft, is_preview=True)
    client.force_login(alice)
    assert post_allocation(client, draft, allocation_method="simple").status_code == 302
    draft.refresh_from_db()
    assert draft.allocation_method == "simple"


def test_the_service_refuses_a_fixed_design_whatever_the_form_sends(alice, draft):
    go_live(draft)
    with pytest.raises(BuilderError, match=r"live .*: the allocation design is fixed"):
        builder_recruitment.study_allocation_update(
            study_id=draft.pk, values={"allocation_block_sizes": [6]}
        )
    builder_recruitment.study_allocation_update(study_id=draft.pk, values={"quota_per_arm": 5})
    draft.refresh_from_db()
    assert (draft.allocation_block_sizes, draft.quota_per_arm) == ([], 5)


def test_the_saved_strata_are_what_the_entry_link_allocates_by(client, alice, draft):
    client.force_login(alice)
    response = post_allocation(
        client,
        draft,
        allocation_method="stratified_blocks",
        stratum_parameter="site",
        stratum_values="leeds\nyork",
    )
    assert response.status_code == 302
    go_live(draft)
    client.logout()
    flow = enter(client, draft, site="york")
    flow.post("consent", {"agree": "1"})
    assert Allocation.objects.get(participant=flow.participant).stratum == "york"


# --- Screening and attention check ------------------------------------------------------


def screening_data(**overrides):
    data = {
        "screening_question": "Where do you live?",
        "screening_label": ["I live in the UK", "Elsewhere"],
        "screening_value": ["", "other"],
        "screening_eligible": ["0"],
        "check_question": "Choose 'Purple'.",
        "check_option": ["Red", "Purple", "Green"],
        "check_correct": "1",
        "check_attempts": "2",
    }
    data.update(overrides)
    return data


def post_screening(client, study, **overrides):
    return client.post(
        reverse("studies:screening", args=[study.slug]), screening_data(**overrides)
    )


def test_it_saves_the_options_as_rows_on_the_audit_trail(client, alice, draft):
    client.force_login(alice)
    response = post_screening(client, draft)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.screening_options == [
        {"value": "i-live-in-the-uk", "label": "I live in the UK", "eligible": True},
        {"value": "other", "label": "Elsewhere", "eligible": False},
    ]
    assert draft.check_options == ["Red", "Purple", "Green"]
    assert (draft.check_answer, draft.check_attempts) == ("Purple", 2)
    assert draft.has_screening and draft.has_check
    entry = last_change(draft)
    assert entry.actor == alice and entry.after["check_answer"] == "Purple"
    # The page shows them back as rows, the correct answer chosen.
    html = client.get(reverse("studies:screening", args=[draft.slug])).content.decode()
    assert 'value="i-live-in-the-uk"' in html
    assert 'name="check_correct" value="1" checked' in html


def test_each_screening_mistake_is_shown_beside_its_option(client, alice, draft):
    client.force_login(alice)
    response = post_screening(client, draft, check_correct="")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_check_answer-error"' in html and "Choose the correct answer." in html
    response = post_screening(client, draft, screening_value=["uk", "uk"])
    html = response.content.decode()
    assert 'id="screening-1-error"' in html and "Another option has this code." in html
    response = post_screening(client, draft, screening_eligible=[])
    html = response.content.decode()
    assert 'id="id_screening_options-error"' in html
    assert "every participant would be screened out" in html
    response = post_screening(client, draft, check_option=["Red", "red", "Green"])
    assert 'id="check-1-error"' in response.content.decode()
    response = post_screening(client, draft, screening_question="")
    html = response.content.decode()
    assert 'id="id_screening_question-error"' in html
    assert "Write the question these options answer." in html
    response = post_screening(client, draft, check_option=["Purple"], check_correct="0")
    assert 'id="id_check_options-error"' in response.content.decode()
    draft.refresh_from_db()
    assert not draft.has_screening and not draft.has_check


def test_row_buttons_add_and_remove_options_without_saving(client, alice, draft):
    client.force_login(alice)
    response = post_screening(client, draft, row_action="screening-add")
    assert response.status_code == 200
    assert response.content.decode().count('name="screening_label"') == 3
    response = post_screening(client, draft, row_action="check-remove-0")
    html = response.content.decode()
    assert html.count('name="check_option"') == 2 and 'value="Red"' not in html
    # The correct answer stays on its option once the rows above it move.
    response = client.post(
        reverse("studies:screening", args=[draft.slug]),
        screening_data(row_action="check-remove-0"),
        headers={"HX-Request": "true"},
    )
    assert response.content.decode().lstrip().startswith("<form")
    draft.refresh_from_db()
    assert draft.screening_options == [] and draft.check_options == []


def test_once_someone_entered_the_options_are_fixed_and_the_wording_not(client, alice, draft):
    client.force_login(alice)
    assert post_screening(client, draft).status_code == 302
    make_participant(draft)
    url = reverse("studies:screening", args=[draft.slug])
    html = client.get(url).content.decode()
    assert 'id="screening-fixed"' in html and 'id="screening-options-fixed"' in html
    assert 'name="screening_label"' not in html
    response = post_screening(
        client,
        draft,
        screening_question="Where do you live now?",
        screening_eligible=["0", "1"],
        check_correct="2",
        check_attempts="5",
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.screening_question == "Where do you live now?"
    assert [o["eligible"] for o in draft.screening_options] == [True, False]
    assert (draft.check_answer, draft.check_attempts) == ("Purple", 2)
    response = post_screening(client, draft, check_question="")
    assert response.status_code == 400
    assert "its wording may change, but it stays" in response.content.decode()


def test_an_option_saved_on_the_page_screens_a_participant_out(client, alice, draft):
    client.force_login(alice)
    assert post_screening(client, draft, check_question="", check_option=[]).status_code == 302
    prolific = {
        "completion_url": "https://app.prolific.com/submissions/complete",
        "completion_code": "DONE01",
        "code_screened_out": "NOTFOR01",
    }
    assert post_prolific(client, draft, **prolific).status_code == 302
    go_live(draft)
    client.logout()
    study_id = draft.prolific_study_id
    flow = enter(client, draft, PROLIFIC_PID="pid0000001", STUDY_ID=study_id)
    flow.post("consent", {"agree": "1"})
    flow.post("screening", {"answer": "other"})
    participant = flow.refresh()
    assert participant.status == Participant.Status.SCREENED_OUT
    assert "complete?cc=NOTFOR01" in flow.home().content.decode()
    eligible = enter(type(client)(), draft, PROLIFIC_PID="pid0000002", STUDY_ID=study_id)
    eligible.post("consent", {"agree": "1"})
    eligible.post("screening", {"answer": "i-live-in-the-uk"})
    assert eligible.refresh().arm is not None


# --- Prolific ---------------------------------------------------------------------------


def prolific_data(**overrides):
    data = {
        "prolific_study_id": "64f1c0ffee0123456789abcd",
        "completion_url": "https://app.prolific.com/submissions/complete",
        "completion_code": "C1OK",
        "code_screened_out": "C2SCREEN",
        "code_timed_out": "C3TIME",
        "code_failed_check": "",
        "code_study_full": "C5FULL",
        "code_technical_problem": "C6TECH",
    }
    data.update(overrides)
    return data


def post_prolific(client, study, **overrides):
    return client.post(
        reverse("studies:prolific_settings", args=[study.slug]), prolific_data(**overrides)
    )


def test_it_saves_the_prolific_id_url_and_codes_on_the_audit_trail(client, alice, draft):
    client.force_login(alice)
    assert post_prolific(client, draft).status_code == 302
    draft.refresh_from_db()
    assert draft.prolific_study_id == "64f1c0ffee0123456789abcd"
    assert (draft.completion_code, draft.code_technical_problem) == ("C1OK", "C6TECH")
    entry = last_change(draft)
    assert entry.actor == alice and entry.after["code_study_full"] == "C5FULL"


def test_each_prolific_mistake_is_shown_beside_its_field(client, alice, draft):
    client.force_login(alice)
    response = post_prolific(client, draft, completion_url="http://example.org/done")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_completion_url-error"' in html and "An https:// address" in html
    response = post_prolific(client, draft, code_study_full="c1ok")
    html = response.content.decode()
    assert 'id="id_code_study_full-error"' in html
    assert "The same code as “Completed”" in html
    response = post_prolific(client, draft, code_timed_out="NOT OK<b>")
    html = response.content.decode()
    assert 'id="id_code_timed_out-error"' in html
    assert "NOT OK&lt;b&gt;" in html and "NOT OK<b>" not in html
    response = post_prolific(client, draft, prolific_study_id="{{%STUDY_ID%}}")
    assert 'id="id_prolific_study_id-error"' in response.content.decode()
    draft.refresh_from_db()
    assert draft.completion_code == "CODE1234"  # make_study's


def test_codes_change_while_the_study_is_live(client, alice, draft):
    go_live(draft)
    client.force_login(alice)
    assert post_prolific(client, draft, code_timed_out="C3LATE").status_code == 302
    draft.refresh_from_db()
    assert draft.code_timed_out == "C3LATE"


# --- Who may ----------------------------------------------------------------------------


def page_urls(study):
    return [
        reverse(f"studies:{name}", args=[study.slug])
        for name in ("allocation", "screening", "prolific_settings")
    ]


@pytest.mark.parametrize("role", [None, Role.ANALYST, Role.BLINDED_ANALYST, Role.AUDITOR])
def test_others_get_404_and_change_nothing(client, bob, draft, role):
    if role is not None:
        make_member(draft, bob, role)
    client.force_login(bob)
    for url in page_urls(draft):
        assert client.get(url).status_code == 404, url
    assert post_allocation(client, draft, allocation_method="simple").status_code == 404
    assert post_screening(client, draft).status_code == 404
    assert post_prolific(client, draft).status_code == 404
    draft.refresh_from_db()
    assert draft.allocation_method == "blocks"
    assert not draft.has_screening and draft.completion_code == "CODE1234"


def test_a_collaborator_may_edit_and_anonymous_visitors_sign_in(client, bob, draft):
    for url in page_urls(draft):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    make_member(draft, bob, Role.COLLABORATOR)
    client.force_login(bob)
    for url in page_urls(draft):
        assert client.get(url).status_code == 200, url
    assert post_prolific(client, draft).status_code == 302


def test_the_builder_pages_link_to_each_other(client, alice, draft):
    client.force_login(alice)
    for name in ("settings", "arms", "scenarios"):
        html = client.get(reverse(f"studies:{name}", args=[draft.slug])).content.decode()
        for url in page_urls(draft):
            assert f'href="{url}"' in html, (name, url)
    html = client.get(reverse("analysis:study_detail", args=[draft.slug])).content.decode()
    assert all(f'href="{url}"' in html for url in page_urls(draft))
    settings_html = client.get(reverse("studies:settings", args=[draft.slug])).content.decode()
    assert "admin/studies/study" not in settings_html
