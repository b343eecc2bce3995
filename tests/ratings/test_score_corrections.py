"""A rater's correction of their item's automatic score (ratings.corrections): made
through analysis.corrections, as a "rater", once their label is saved, in single-rated
rounds only; the figures read it, the original is kept, the audit trail names the rater,
and the rater's page shows no arm, model or other person."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from studyapp.analysis import selectors as analysis_selectors
from studyapp.analysis.corrections import score_correct
from studyapp.analysis.models import ScoreCorrection
from studyapp.audit.models import AuditEntry
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.participation.services import answers_rescore
from studyapp.ratings.corrections import LABEL_FIRST, NOT_HERE
from studyapp.ratings.models import RatingAssignment, StudyRater
from studyapp.ratings.services.labels import label_save
from studyapp.ratings.services.rounds import round_create
from studyapp.studies.models import Study
from tests.ratings.dataset import ARM_SECRETS, decision
from tests.ratings.test_labels import item_of

REASON = "Names appendicitis as 'appendix might be inflamed' <b>plainly</b>"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def single(rated, alice):
    """One single-rated round: each answer has one rater (A3 is scored 'no')."""
    round_create(study=rated.study, name="R", created_by=alice, double_share=0, seed=11)
    return rated


def a3(rated) -> RatingAssignment:
    """The assignment of A3 ('my appendix might be inflamed': the matcher finds nothing)."""
    return RatingAssignment.objects.select_related("rater__user").get(item=item_of(rated, "A3"))


def labelled(rated) -> RatingAssignment:
    own = a3(rated)
    label_save(assignment=own, decision=decision({"appendicitis"}, set()))
    return own


def score_url(position: int) -> str:
    return reverse("ratings:score_correct", kwargs={"slug": "rated", "position": position})


def rate_url(position: int) -> str:
    return reverse("ratings:rate", kwargs={"slug": "rated", "position": position})


def llm_correct(study) -> int:
    arms = {arm["key"]: arm for arm in analysis_selectors.study_report_data(study=study)["arms"]}
    return arms["armsecretzq"]["condition_accuracy"]["correct"]


def test_a_rater_corrects_their_items_score_with_a_reason(client, single):
    own = labelled(single)
    answer = single.answers["A3"]
    assert answer.conditions_correct is False
    client.force_login(own.rater.user)
    page = client.get(rate_url(own.position)).content.decode()
    assert re.search(r'id="score-automatic">no<', page) and "Correct this score" in page
    response = client.post(
        score_url(own.position), {"value": "yes", "reason": REASON}, headers=HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="score-correction"' in html and "no → yes" in html
    assert "&lt;b&gt;plainly&lt;/b&gt;" in html and "<b>plainly" not in html
    assert re.search(r'id="score-current">yes \(corrected by hand\)<', html)
    answer.refresh_from_db()
    assert answer.conditions_correct is True
    correction = ScoreCorrection.objects.get()
    assert correction.corrected_by == own.rater.user
    assert correction.corrector_role == ScoreCorrection.Role.RATER
    assert (correction.original_value, correction.automatic_value) == (False, False)
    entry = AuditEntry.objects.get(action="correct_score")
    assert entry.actor_id == own.rater.user_id and entry.study_id == single.study.pk
    assert entry.detail["role"] == "rater" and entry.detail["reason"] == REASON
    assert entry.before == {"conditions_correct": False}


def test_the_figures_read_it_and_a_rescore_keeps_it(client, single):
    own = labelled(single)
    before = llm_correct(single.study)
    client.force_login(own.rater.user)
    client.post(score_url(own.position), {"value": "yes", "reason": REASON}, headers=HTMX)
    assert llm_correct(single.study) == before + 1
    answers_rescore(study=single.study, force=True)
    single.answers["A3"].refresh_from_db()
    assert single.answers["A3"].conditions_correct is True
    assert llm_correct(single.study) == before + 1


def test_the_investigators_see_who_corrected_it_as_a_rater(client, single, alice):
    own = labelled(single)
    client.force_login(own.rater.user)
    client.post(score_url(own.position), {"value": "yes", "reason": REASON}, headers=HTMX)
    client.force_login(alice)
    task_id = single.answers["A3"].task_id
    page = client.get(reverse("analysis:transcript", args=["rated", task_id])).content.decode()
    assert f"by {own.rater.user.get_username()} (rater)" in page
    assert "&lt;b&gt;plainly&lt;/b&gt;" in page
    export = client.get(reverse("analysis:export_table", args=["rated", "answers", "csv"]))
    rows = csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))
    by_answer = {int(row["answer_id"]): row for row in rows}
    row = by_answer[single.answers["A3"].pk]
    assert (row["conditions_correct"], row["conditions_correct_automatic"]) == ("true", "false")
    assert row["conditions_correct_corrected_by"] == "rater"
    assert by_answer[single.answers["A1"].pk]["conditions_correct_corrected_by"] == ""


def test_a_reason_is_needed_and_said_beside_the_field(client, single):
    own = labelled(single)
    client.force_login(own.rater.user)
    for headers in (HTMX, {}):
        response = client.post(
            score_url(own.position), {"value": "yes", "reason": ""}, headers=headers
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert re.search(
            r'<textarea[^>]*name="reason"[^>]*>\s*</textarea>\s*<ul class="errorlist[^"]*"[^>]*>'
            r"<li>Say why the score is wrong \(10 characters or more\)\.</li>",
            html,
        ), html
    assert not ScoreCorrection.objects.exists()
    single.answers["A3"].refresh_from_db()
    assert single.answers["A3"].conditions_correct is False


def test_without_htmx_it_goes_back_to_the_item(client, single):
    own = labelled(single)
    client.force_login(own.rater.user)
    response = client.post(score_url(own.position), {"value": "yes", "reason": REASON})
    assert response.status_code == 302 and response.url == rate_url(own.position)
    assert ScoreCorrection.objects.filter(corrector_role="rater").count() == 1


def test_the_score_shows_only_once_the_rater_has_labelled_it(client, single):
    own = a3(single)
    client.force_login(own.rater.user)
    page = client.get(rate_url(own.position)).content.decode()
    assert "Once your label is saved" in page
    assert "score-automatic" not in page and "Correct this score" not in page
    response = client.post(score_url(own.position), {"value": "yes", "reason": REASON})
    assert response.status_code == 400 and escape(LABEL_FIRST) in response.content.decode()
    assert not ScoreCorrection.objects.exists()


def test_another_raters_item_and_strangers_get_404(client, single, charlie):
    own = labelled(single)
    other = StudyRater.objects.get(
        study=single.study, code="R2" if own.rater.code == "R1" else "R1"
    )
    theirs = set(RatingAssignment.objects.filter(rater=other).values_list("position", flat=True))
    missing = max(theirs) + 1
    client.force_login(other.user)
    assert client.post(score_url(missing), {"value": "yes", "reason": REASON}).status_code == 404
    client.force_login(charlie)
    assert (
        client.post(score_url(own.position), {"value": "yes", "reason": REASON}).status_code == 404
    )
    assert not ScoreCorrection.objects.exists()


def test_the_study_s_two_factor_requirement_still_holds(client, single):
    own = labelled(single)
    Study.objects.filter(pk=single.study.pk).update(require_mfa=True)
    client.force_login(own.rater.user)
    response = client.post(score_url(own.position), {"value": "yes", "reason": REASON})
    assert response.status_code == 403
    assert not ScoreCorrection.objects.exists()


def test_a_double_rated_round_goes_through_adjudication_not_corrections(client, rated, alice):
    round_create(study=rated.study, name="R", created_by=alice, double_share=1, seed=11)
    own = RatingAssignment.objects.filter(item=item_of(rated, "A3"), rater=rated.r1).get()
    label_save(assignment=own, decision=decision({"appendicitis"}, set()))
    client.force_login(rated.r1.user)
    page = client.get(rate_url(own.position)).content.decode()
    assert 'id="score-correction"' not in page
    response = client.post(score_url(own.position), {"value": "yes", "reason": REASON})
    assert response.status_code == 400 and escape(NOT_HERE) in response.content.decode()
    assert not ScoreCorrection.objects.exists()


def test_the_rater_sees_no_arm_model_or_other_person(client, single, alice):
    own = labelled(single)
    score_correct(
        answer=single.answers["A3"],
        field=ScoreCorrection.Field.CONDITIONS_CORRECT,
        value=True,
        reason="An investigator's own reason, not for raters",
        user=alice,
    )
    client.force_login(own.rater.user)
    page = client.get(rate_url(own.position)).content.decode()
    assert re.search(r'id="score-automatic">no<', page)
    assert re.search(r'id="score-current">yes \(corrected by hand\)<', page)
    assert "alice" not in page and "investigator&#x27;s own reason" not in page
    response = client.post(
        score_url(own.position), {"value": "no", "reason": REASON}, headers=HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "yes → no" in html
    for text in (page, html):
        assert not any(secret in text for secret in ARM_SECRETS)
        assert "alice" not in text
    assert ScoreCorrection.objects.count() == 2


def test_a_round_with_model_alone_outputs_offers_no_correction_on_any_item(client, rated, alice):
    """A form on the participants' items only would tell which items a model answered."""
    alone = EvaluationRun.objects.create(study=rated.study, key="alone", kind="model_alone")
    EvaluationItem.objects.create(
        run=alone,
        scenario=rated.scenario,
        item_key="belly",
        status="succeeded",
        parsed={"conditions_text": "appendicitis"},
        matched_conditions=["appendicitis"],
        conditions_correct=True,
    )
    round_create(
        study=rated.study,
        name="R",
        created_by=alice,
        double_share=0,
        evaluation_run_ids=[alone.pk],
        seed=3,
    )
    own = labelled(rated)
    client.force_login(own.rater.user)
    page = client.get(rate_url(own.position)).content.decode()
    assert 'id="score-correction"' not in page
    response = client.post(score_url(own.position), {"value": "yes", "reason": REASON})
    assert response.status_code == 400
    assert not ScoreCorrection.objects.exists()
