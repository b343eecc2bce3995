"""The analysis plan end to end: locked by the first consent, refused changes, shown on the
dashboard (withheld while enrolling until an interim look is recorded; blinded by letter),
and emitted by `study_report`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from studyapp.analysis import services
from studyapp.analysis.models import InferenceReveal
from studyapp.analysis.selectors_plan import plan_section, plan_state
from studyapp.participation.services import participant_consent
from studyapp.studies.models import AnalysisPlan, AnalysisPlanLockedError, Study
from studyapp.studies.services import plan_current, plan_save
from tests.analysis.planned import build_planned_study
from tests.conftest import require
from tests.factories import (
    make_control_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db


def test_the_first_consent_locks_the_plan_with_the_design():
    study = make_study("lockme")
    for key in ("s1", "s2"):
        make_scenario(study, key)
    make_control_arm(study, key="a")
    make_control_arm(study, key="b")
    draft = plan_current(study=study)
    assert draft.locked_at is None
    participant_consent(participant_id=make_participant(study).pk)
    locked = AnalysisPlan.objects.get(pk=draft.pk)
    assert locked.locked_at is not None and len(locked.design_sha256) == 64
    # A second consent changes nothing.
    participant_consent(participant_id=make_participant(study).pk)
    assert AnalysisPlan.objects.get(pk=draft.pk).locked_at == locked.locked_at
    locked.reason = "tamper"
    with pytest.raises(AnalysisPlanLockedError):
        locked.save()


def test_postgresql_refuses_changing_a_locked_plan():
    require(connection.vendor == "postgresql", "PostgreSQL (the locked-plan trigger)")
    study = build_planned_study().study
    plan = plan_current(study=study)
    AnalysisPlan.objects.filter(pk=plan.pk).update(locked_at=study.created_at)
    with pytest.raises(DatabaseError, match="locked analysis plan"), transaction.atomic():
        AnalysisPlan.objects.filter(pk=plan.pk).update(reason="changed")


def test_saving_the_same_plan_again_records_nothing():
    study = build_planned_study().study
    user = make_user("pi")
    first = plan_current(study=study)
    again = plan_save(study=study, content=first.content, changed_by=user)
    assert again.pk == first.pk and AnalysisPlan.objects.filter(study=study).count() == 1


@pytest.fixture
def planned(db):
    planned = build_planned_study()
    user = make_user("alice")
    make_member(planned.study, user)
    return planned, user


def test_a_live_study_withholds_inference_until_a_look_is_recorded(client, planned):
    planned_study, user = planned
    study = planned_study.study
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
    client.force_login(user)
    url = reverse("analysis:dashboard", args=[study.slug])
    html = client.get(url).content.decode()
    assert 'id="inference-hidden"' in html
    assert "Holm p" not in html and "Disposition OR vs" not in html
    # The counts stay: the pooled LLM arms' correct conditions.
    assert "55/180" in html
    reveal = reverse("analysis:reveal_inference", args=[study.slug])
    response = client.post(reveal, {"reason": "x"})
    assert not InferenceReveal.objects.exists()
    response = client.post(reveal, {"reason": "the monitoring committee's planned look"})
    assert response.status_code == 302
    (record,) = InferenceReveal.objects.all()
    assert (record.user, record.study) == (user, study)
    assert record.plan_sha256 == plan_current(study=study).sha256
    html = client.get(url).content.decode()
    assert 'id="inference-hidden"' not in html and "Holm p" in html


@pytest.mark.parametrize("status", [Study.Status.PAUSED, Study.Status.PILOT_PAUSED])
def test_pausing_a_study_does_not_reveal_its_inference(client, planned, status):
    planned_study, user = planned
    study = planned_study.study
    Study.objects.filter(pk=study.pk).update(status=status)
    client.force_login(user)
    html = client.get(reverse("analysis:dashboard", args=[study.slug])).content.decode()
    assert 'id="inference-hidden"' in html and "Holm p" not in html


def test_a_draft_study_shows_the_contrasts_primary_first(client, planned):
    planned_study, user = planned
    client.force_login(user)
    html = client.get(reverse("analysis:dashboard", args=[planned_study.study.slug])).content
    html = html.decode()
    assert "Holm p" in html and "a draft" in html
    pooled = html.index('data-contrast="llm_pooled_vs_control"')
    single = html.index('data-contrast="each_llm_vs_control:gpt"')
    assert pooled < single
    assert plan_current(study=planned_study.study).sha256 in html


def test_blinded_the_contrasts_are_named_by_letter(planned):
    study = planned[0].study
    section = plan_section(study=study, blinded=True, revealed=True)
    labels = {row.label for row in section.rows}
    for key in ("gpt", "llama", "cmd", "control"):
        assert not any(key in label for label in labels)
    unblinded = plan_section(study=study, blinded=False, revealed=True)
    # The same contrasts and figures, other names.
    assert [r.result.p for r in section.rows] == [r.result.p for r in unblinded.rows]


def test_the_page_reads_the_model_fits_from_the_cache_of_its_data_version(planned):
    study = planned[0].study
    section = plan_section(study=study, blinded=False, revealed=True)
    assert section.models_pending
    version = services.plan_models_fit(study=study)
    assert version == section.data_version
    section = plan_section(study=study, blinded=False, revealed=True)
    assert not section.models_pending
    pooled = next(
        r
        for r in section.rows
        if r.result.contrast == "llm_pooled_vs_control"
        and r.result.outcome == "conditions"
        and r.result.analysis_set == "itt"
    )
    assert pooled.adjusted["fallback_reason"] is None and pooled.bootstrap["ci_low"] is not None


def test_study_report_json_carries_plan_contrasts_and_calibration(planned):
    study = planned[0].study
    out = StringIO()
    call_command("study_report", study.slug, "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    state = plan_state(study=study)
    assert data["plan"]["sha256"] == state.current.sha256
    assert data["plan"]["version"] == 1 and data["plan"]["locked_at"] is None
    keys = {"outcome", "comparison", "analysis_set", "odds_ratio", "ci_low", "ci_high", "p"}
    keys |= {"test", "p_adjusted", "adjusted"}
    assert all(keys <= set(c) for c in data["contrasts"])
    first = data["contrasts"][0]
    assert first["primary_contrast"] and first["adjusted"]["method"] == "gee_logistic"
    assert {a["arm"] for a in data["calibration"]["arms"]} == {"control", "gpt", "llama", "cmd"}
    text = StringIO()
    call_command("study_report", study.slug, stdout=text)
    assert state.current.sha256 in text.getvalue()
    assert "All LLM arms pooled vs control | conditions (primary) | itt" in text.getvalue()


def _plan_url(study):
    return reverse("analysis:plan", args=[study.slug])


def test_the_plan_page_edits_a_draft_in_place(client, planned):
    planned_study, user = planned
    study = planned_study.study
    client.force_login(user)
    response = client.get(_plan_url(study))
    assert response.status_code == 200
    html = response.content.decode()
    assert plan_state(study=study).current.sha256 in html and "Save the draft" in html
    content = plan_current(study=study).content
    content["alpha"] = 0.01
    response = client.post(_plan_url(study), {"content": json.dumps(content)})
    assert response.status_code == 302
    (only,) = AnalysisPlan.objects.filter(study=study)
    assert only.version == 1 and only.content["alpha"] == 0.01
    assert only.created_by == user


def test_the_plan_page_names_every_problem_and_keeps_the_text(client, planned):
    planned_study, user = planned
    study = planned_study.study
    client.force_login(user)
    response = client.post(_plan_url(study), {"content": "{not json"})
    assert response.status_code == 400
    assert "Not valid JSON" in response.content.decode()
    content = plan_current(study=study).content
    content["alpha"] = 3
    content["contrasts"][0]["a"] = ["<script>nope</script>"]
    response = client.post(_plan_url(study), {"content": json.dumps(content)})
    html = response.content.decode()
    assert response.status_code == 400
    assert "alpha: a number between 0 and 0.5" in html
    assert "<script>nope</script>" not in html and "&lt;script&gt;nope" in html
    assert AnalysisPlan.objects.get(study=study).content["alpha"] == 0.05


def test_after_the_lock_a_change_is_a_new_version_with_a_reason(client, planned):
    planned_study, user = planned
    study = planned_study.study
    plan = plan_current(study=study)
    AnalysisPlan.objects.filter(pk=plan.pk).update(locked_at=study.created_at)
    client.force_login(user)
    content = dict(plan.content, alpha=0.01)
    response = client.post(_plan_url(study), {"content": json.dumps(content), "reason": ""})
    assert response.status_code == 400
    assert AnalysisPlan.objects.filter(study=study).count() == 1
    response = client.post(
        _plan_url(study),
        {"content": json.dumps(content), "reason": "the DSMB asked for a stricter alpha"},
    )
    assert response.status_code == 302
    assert [p.version for p in AnalysisPlan.objects.filter(study=study)] == [1, 2]
    state = plan_state(study=study)
    assert state.amended and state.locked.content["alpha"] == 0.05
    # Every figure now depends on a parameter changed after the lock: exploratory.
    section = plan_section(study=study, blinded=False, revealed=True)
    assert {row.result.status for row in section.rows} == {"exploratory"}


def test_only_the_studys_investigators_reach_the_plan(client, planned):
    study = planned[0].study
    client.force_login(make_user("mallory"))
    assert client.get(_plan_url(study)).status_code == 404
    assert client.post(_plan_url(study), {"content": "{}"}).status_code == 404
    client.logout()
    assert client.get(_plan_url(study)).status_code == 302


def test_the_study_page_shows_the_plan_and_a_read_writes_nothing(client, planned):
    planned_study, user = planned
    study = planned_study.study
    client.force_login(user)
    html = client.get(reverse("analysis:study_detail", args=[study.slug])).content.decode()
    assert plan_state(study=study).current.sha256 in html and "draft" in html
    assert not AnalysisPlan.objects.filter(study=study).exists()


def test_the_condition_labels_choice_lives_in_the_plan(planned):
    from studyapp.studies.models import AnalysisChoiceChange
    from studyapp.studies.services import study_condition_labels_set

    study, user = planned[0].study, planned[1]
    # Set in the study's settings: the plan says so, the study mirrors it, the change is
    # recorded.
    change = study_condition_labels_set(study=study, condition_labels="reference", changed_by=user)
    assert change.new_value == "reference"
    assert plan_current(study=study).content["condition_labels"] == "reference"
    study.refresh_from_db()
    assert study.condition_labels == "reference"
    # Set in the plan: the same.
    content = dict(plan_current(study=study).content, condition_labels="matcher")
    plan_save(study=study, content=content, changed_by=user)
    study.refresh_from_db()
    assert study.condition_labels == "matcher"
    assert AnalysisChoiceChange.objects.filter(study=study).count() == 2
    # After the lock, a change of it is a plan amendment with its reason.
    plan = plan_current(study=study)
    AnalysisPlan.objects.filter(pk=plan.pk).update(locked_at=study.created_at)
    study_condition_labels_set(study=study, condition_labels="reference", changed_by=user)
    amended = plan_current(study=study)
    assert amended.version == 2 and "condition labels: matcher -> reference" in amended.reason


def test_the_pages_figures_follow_a_change_of_the_data(planned):
    from studyapp.participation.models import Answer

    study = planned[0].study
    before = plan_section(study=study, blinded=False, revealed=True)
    pooled = next(
        r.result
        for r in before.rows
        if r.result.contrast == "llm_pooled_vs_control"
        and r.result.outcome == "conditions"
        and r.result.analysis_set == "itt"
    )
    # One control answer re-scored as correct (a rescore, as the scorer would).
    answer = Answer.objects.filter(
        task__participant__arm__key="control", conditions_correct=False
    ).first()
    Answer.objects.filter(pk=answer.pk).update(conditions_correct=True)
    after = plan_section(study=study, blinded=False, revealed=True)
    assert after.data_version != before.data_version
    moved = next(
        r.result
        for r in after.rows
        if r.result.contrast == "llm_pooled_vs_control"
        and r.result.outcome == "conditions"
        and r.result.analysis_set == "itt"
    )
    assert moved.b.successes == pooled.b.successes + 1


def test_dashboard_report_and_exports_agree_on_the_primary_contrast(planned, tmp_path):
    """The pooled contrast recomputed from the exported tasks and answers (ITT: an
    unanswered scenario counts as not correct) with statsmodels equals the dashboard's and
    study_report's."""
    from statsmodels.stats.contingency_tables import Table2x2

    from studyapp.analysis.exports import export_to_directory

    study = planned[0].study
    export_to_directory(study=study, fmt="jsonl", out_dir=tmp_path, tables=["tasks", "answers"])
    tasks = [json.loads(line) for line in (tmp_path / "tasks.jsonl").read_text().splitlines()]
    answers = {
        row["task_id"]: row
        for row in map(json.loads, (tmp_path / "answers.jsonl").read_text().splitlines())
    }
    counts = {"llm": [0, 0], "control": [0, 0]}
    for task in tasks:
        side = "control" if task["arm"] == "control" else "llm"
        answer = answers.get(task["task_id"])
        counts[side][0] += bool(answer and answer["conditions_correct"])
        counts[side][1] += 1
    (a_s, a_n), (b_s, b_n) = counts["llm"], counts["control"]
    expected = Table2x2([[a_s, a_n - a_s], [b_s, b_n - b_s]]).oddsratio

    out = StringIO()
    call_command("study_report", study.slug, "--format", "json", stdout=out)
    reported = next(
        c
        for c in json.loads(out.getvalue())["contrasts"]
        if c["contrast"] == "llm_pooled_vs_control"
        and c["outcome"] == "conditions"
        and c["analysis_set"] == "itt"
    )
    shown = next(
        r.result
        for r in plan_section(study=study, blinded=False, revealed=True).rows
        if r.result.contrast == "llm_pooled_vs_control"
        and r.result.outcome == "conditions"
        and r.result.analysis_set == "itt"
    )
    assert (
        (reported["a"]["successes"], reported["a"]["n"])
        == (a_s, a_n)
        == (
            shown.a.successes,
            shown.a.n,
        )
    )
    assert (reported["b"]["successes"], reported["b"]["n"]) == (b_s, b_n)
    assert reported["odds_ratio"] == pytest.approx(expected, rel=1e-12)
    assert shown.figures.odds_ratio == pytest.approx(expected, rel=1e-12)
    assert reported["p_adjusted"] == pytest.approx(shown.p_adjusted, rel=1e-12)


def test_the_reliability_curve_is_a_valid_plotly_figure_of_the_bins(client, planned):
    import re

    import plotly.graph_objects as go

    planned_study, user = planned
    study = planned_study.study
    client.force_login(user)
    html = client.get(reverse("analysis:dashboard", args=[study.slug])).content.decode()
    match = re.search(
        r'<script id="fig-reliability" type="application/json">(.*?)</script>', html, re.S
    )
    assert match
    figure = json.loads(match.group(1))
    go.Figure(figure)  # rejects any property plotly does not know
    section = plan_section(study=study, blinded=False, revealed=True)
    control = next(row for row in section.calibration if row.arm == "control")
    line = next(trace for trace in figure["data"] if trace["name"] == "control")
    bins = [b for b in control.result.curve.bins if b.n]
    assert line["x"] == [round(b.mean_confidence, 2) for b in bins]
    assert line["y"] == [round(100 * b.accuracy, 2) for b in bins]
    # Live and not revealed: no figure.
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
    html = client.get(reverse("analysis:dashboard", args=[study.slug])).content.decode()
    assert "fig-reliability" not in html
