"""A person's correction of an answer's score (analysis.corrections): recorded with the
reason, read by every figure and export, kept through a rescore, the original kept."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from studyapp.analysis import selectors
from studyapp.analysis.corrections import ScoreCorrectionRefused, score_correct
from studyapp.analysis.models import AuditRecordImmutableError, ScoreCorrection
from studyapp.audit.models import AuditEntry
from studyapp.participation.enrolment import participant_withdraw
from studyapp.participation.models import Answer
from studyapp.participation.services import answers_rescore
from studyapp.studies.roles import Role
from tests.analysis.scored import ARM_SECRETS
from tests.conftest import require
from tests.factories import make_member, make_user

FIELD = ScoreCorrection.Field.CONDITIONS_CORRECT
REASON = "Names muscle strain as 'pulled a muscle' <b>obviously</b>"


@pytest.fixture
def wrong(scored) -> Answer:
    """p1's back answer: 'no idea', scored as not naming a gold condition."""
    answer = Answer.objects.get(task__participant=scored.p1, task__position=2)
    assert answer.conditions_correct is False
    return answer


def llm_condition_accuracy(study) -> dict:
    arms = {arm["key"]: arm for arm in selectors.study_report_data(study=study)["arms"]}
    return arms["gptarmzq"]["condition_accuracy"]


def test_a_correction_changes_the_figures_and_keeps_the_original(scored, alice, wrong):
    assert llm_condition_accuracy(scored.study)["correct"] == 2
    correction = score_correct(answer=wrong, field=FIELD, value=True, reason=REASON, user=alice)
    assert llm_condition_accuracy(scored.study)["correct"] == 3
    wrong.refresh_from_db()
    assert wrong.conditions_correct is True
    assert (correction.original_value, correction.corrected_value) == (False, True)
    assert correction.automatic_value is False and correction.corrected_by == alice
    with pytest.raises(AuditRecordImmutableError):
        correction.save()


def test_a_correction_of_a_correction_keeps_the_chain(scored, alice, wrong):
    score_correct(answer=wrong, field=FIELD, value=True, reason=REASON, user=alice)
    second = score_correct(
        answer=wrong, field=FIELD, value=False, reason="On review: too vague to count", user=alice
    )
    assert (second.original_value, second.corrected_value) == (True, False)
    assert second.automatic_value is False
    assert ScoreCorrection.objects.filter(answer=wrong).count() == 2
    assert llm_condition_accuracy(scored.study)["correct"] == 2


@pytest.mark.parametrize("reason", ["", "   ", "too short"])
def test_a_correction_needs_a_reason(scored, alice, wrong, reason):
    with pytest.raises(ScoreCorrectionRefused, match="Say why the score is wrong"):
        score_correct(answer=wrong, field=FIELD, value=True, reason=reason, user=alice)
    wrong.refresh_from_db()
    assert wrong.conditions_correct is False
    assert not ScoreCorrection.objects.exists()


def test_the_same_value_or_another_field_is_refused(scored, alice, wrong):
    with pytest.raises(ScoreCorrectionRefused, match="already no"):
        score_correct(answer=wrong, field=FIELD, value=False, reason=REASON, user=alice)
    with pytest.raises(ScoreCorrectionRefused, match="not a score that can be corrected"):
        score_correct(
            answer=wrong, field="disposition_outcome", value=True, reason=REASON, user=alice
        )


def test_a_correction_survives_a_rescore(scored, alice, wrong):
    score_correct(answer=wrong, field=FIELD, value=True, reason=REASON, user=alice)
    assert answers_rescore(study=scored.study, force=True) == 5
    wrong.refresh_from_db()
    assert wrong.conditions_correct is True  # the correction, not the scorer's False
    assert wrong.matched_conditions == []  # the scorer's other fields are recomputed
    # Uncorrected answers keep the scorer's value.
    assert llm_condition_accuracy(scored.study)["correct"] == 3


def test_it_is_in_the_audit_trail_with_who_and_why(scored, alice, wrong):
    correction = score_correct(answer=wrong, field=FIELD, value=True, reason=REASON, user=alice)
    entry = AuditEntry.objects.get(action="correct_score")
    assert entry.study_id == scored.study.pk and entry.actor_id == alice.pk
    assert entry.object_id == str(wrong.pk)
    assert entry.before == {"conditions_correct": False}
    assert entry.after == {"conditions_correct": True}
    assert entry.detail["reason"] == REASON
    assert entry.detail["correction_id"] == correction.pk


def answers_csv(client) -> dict[int, dict]:
    response = client.get(reverse("analysis:export_table", args=["beta", "answers", "csv"]))
    rows = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    return {int(row["answer_id"]): row for row in rows}


def test_the_export_says_what_was_corrected_and_the_automatic_value(client, scored, alice, wrong):
    score_correct(answer=wrong, field=FIELD, value=True, reason=REASON, user=alice)
    client.force_login(alice)
    rows = answers_csv(client)
    assert len(rows) == 5
    row = rows[wrong.pk]
    assert row["conditions_correct"] == "true"
    assert row["conditions_correct_corrected"] == "true"
    assert row["conditions_correct_automatic"] == "false"
    other = next(r for pk, r in rows.items() if pk != wrong.pk)
    assert other["conditions_correct_corrected"] == "false"
    assert other["conditions_correct_automatic"] == other["conditions_correct"]


def url(wrong) -> str:
    return reverse("analysis:score_correct", args=["beta", wrong.task_id])


def test_the_transcript_form_corrects_and_shows_the_history_escaped(client, scored, alice, wrong):
    client.force_login(alice)
    transcript = reverse("analysis:transcript", args=["beta", wrong.task_id])
    assert "Correct this score" in client.get(transcript).content.decode()
    response = client.post(
        url(wrong), {"value": "yes", "reason": REASON}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="score-corrections"' in html
    assert "&lt;b&gt;obviously&lt;/b&gt;" in html and "<b>obviously" not in html
    assert "alice" in html and "no → yes" in html
    wrong.refresh_from_db()
    assert wrong.conditions_correct is True
    page = client.get(transcript).content.decode()
    assert "corrected by hand" in page and "&lt;b&gt;obviously&lt;/b&gt;" in page


def test_the_form_says_a_reason_is_needed(client, scored, alice, wrong):
    client.force_login(alice)
    response = client.post(
        url(wrong), {"value": "yes", "reason": ""}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert "Say why the score is wrong (10 characters or more)." in response.content.decode()
    assert not ScoreCorrection.objects.exists()


def test_a_blinded_analyst_corrects_without_seeing_the_arm(client, scored, wrong):
    user = make_user("blinda")
    make_member(scored.study, user, Role.BLINDED_ANALYST)
    client.force_login(user)
    response = client.post(
        url(wrong), {"value": "yes", "reason": REASON}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert not any(secret in html for secret in ARM_SECRETS)
    assert ScoreCorrection.objects.filter(answer=wrong, corrected_by=user).exists()


@pytest.mark.parametrize("role", [Role.AUDITOR, None])
def test_others_are_refused_with_a_404(client, scored, wrong, role):
    user = make_user("nosy")
    if role:
        make_member(scored.study, user, role)
    client.force_login(user)
    response = client.post(url(wrong), {"value": "yes", "reason": REASON})
    assert response.status_code == 404
    assert not ScoreCorrection.objects.exists()
    if role:  # the auditor reads the transcript, without the form
        transcript = reverse("analysis:transcript", args=["beta", wrong.task_id])
        assert "Correct this score" not in client.get(transcript).content.decode()


def test_the_database_refuses_to_change_a_correction(scored, alice, wrong):
    require(connection.vendor == "postgresql", "the trigger needs PostgreSQL")
    correction = score_correct(answer=wrong, field=FIELD, value=True, reason=REASON, user=alice)
    with (
        pytest.raises(DatabaseError, match="never changed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE analysis_scorecorrection SET corrected_value = false WHERE id = %s",
            [correction.pk],
        )


def test_a_withdrawal_takes_the_answers_corrections_with_it(scored, alice, wrong):
    score_correct(answer=wrong, field=FIELD, value=True, reason=REASON, user=alice)
    participant_withdraw(participant_id=scored.p1.pk)
    assert not ScoreCorrection.objects.exists()
    assert AuditEntry.objects.filter(action="correct_score").count() == 1  # the record stays
