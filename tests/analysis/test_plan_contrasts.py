"""The analysis plan's contrasts on a HELPMed-shaped 4-arm study, against statsmodels and
scipy called directly; the analysis sets; Holm; planned vs exploratory."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from studyapp.analysis.contrasts import participant_bootstrap_rd
from studyapp.analysis.selectors_plan import plan_analysis, plan_state
from studyapp.studies import analysis_plan
from studyapp.studies.services import plan_current, plan_lock_at_first_allocation, plan_save
from tests.analysis.planned import ANSWERED, COUNTS, PARTICIPANTS, UNANSWERED, build_planned_study
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _result(analysis, contrast, outcome, analysis_set="itt"):
    return next(
        r
        for r in analysis.results
        if r.contrast == contrast and r.outcome == outcome and r.analysis_set == analysis_set
    )


def _table(a_success, a_n, b_success, b_n):
    return np.array([[a_success, a_n - a_success], [b_success, b_n - b_success]])


def test_pooled_contrast_matches_statsmodels():
    study = build_planned_study().study
    analysis = plan_analysis(study=study, models=False)
    llm = [k for k in COUNTS if k != "control"]
    # ITT: the unanswered tasks count as not correct (the default plan's itt_missing).
    itt_n = 2 * PARTICIPANTS
    a_success = sum(COUNTS[k][0] for k in llm)
    b_success = COUNTS["control"][0]
    result = _result(analysis, "llm_pooled_vs_control", "conditions")
    assert (result.a.successes, result.a.n) == (a_success, 3 * itt_n)
    assert (result.b.successes, result.b.n) == (b_success, itt_n)
    table = _table(a_success, 3 * itt_n, b_success, itt_n)
    t22 = Table2x2(table)
    low, high = t22.oddsratio_confint()
    assert result.figures.odds_ratio == pytest.approx(t22.oddsratio, rel=1e-12)
    assert result.figures.or_ci_low == pytest.approx(low, rel=1e-12)
    assert result.figures.or_ci_high == pytest.approx(high, rel=1e-12)
    chi2 = stats.chi2_contingency(table, correction=False)
    assert result.test == "chi2"
    assert result.p == pytest.approx(chi2.pvalue, rel=1e-12)
    rd_low, rd_high = confint_proportions_2indep(
        a_success, 3 * itt_n, b_success, itt_n, method="newcomb", compare="diff"
    )
    assert result.figures.rd_ci_low == pytest.approx(rd_low, rel=1e-12)
    assert result.figures.rd_ci_high == pytest.approx(rd_high, rel=1e-12)
    assert result.status == "draft"  # nobody allocated through the service: not locked


def test_holm_over_the_confirmatory_family():
    study = build_planned_study().study
    analysis = plan_analysis(study=study, models=False)
    family = [r for r in analysis.results if r.family == "primary-set:primary"]
    # Pooled + 3 single arms, x conditions and disposition.
    assert len(family) == 8
    expected = multipletests([r.p for r in family], method="holm")[1]
    assert [r.p_adjusted for r in family] == pytest.approx(list(expected), rel=1e-12)
    assert all(r.confirmatory for r in family)
    # The per-protocol set is a family of its own.
    pp = [r for r in analysis.results if r.family == "sensitivity-set:primary"]
    assert pp and all(not r.confirmatory for r in pp)


def test_per_protocol_drops_incomplete_and_no_chat():
    study = build_planned_study().study
    analysis = plan_analysis(study=study, models=False)
    result = _result(analysis, "each_llm_vs_control:gpt", "disposition", "per_protocol")
    # Control: completed participants' answered tasks. gpt: also minus the participant
    # who never chatted (2 tasks, both answered).
    completed_tasks = 2 * (PARTICIPANTS - UNANSWERED)
    assert result.b.n == completed_tasks
    assert result.a.n == completed_tasks - 2
    itt = _result(analysis, "each_llm_vs_control:gpt", "disposition")
    assert itt.a.n == 2 * PARTICIPANTS


def test_fisher_when_an_expected_count_is_small_and_red_flags_only_where_listed():
    study = build_planned_study().study
    analysis = plan_analysis(study=study, models=False)
    flags = _result(analysis, "each_llm_vs_control:llama", "red_flag")
    # Only s1 lists red flags: 30 tasks an arm (all answered: the unanswered are s2).
    assert (flags.a.n, flags.b.n) == (PARTICIPANTS, PARTICIPANTS)
    assert flags.a.successes == COUNTS["llama"][2]
    table = _table(COUNTS["llama"][2], PARTICIPANTS, COUNTS["control"][2], PARTICIPANTS)
    expected_min = stats.contingency.expected_freq(table).min()
    assert flags.test == ("fisher" if expected_min < 5 else "chi2")
    assert flags.figures.fisher_p == pytest.approx(stats.fisher_exact(table)[1], rel=1e-12)


def test_acuity_distance_mann_whitney_and_calibration():
    study = build_planned_study().study
    analysis = plan_analysis(study=study, models=False)
    acuity = _result(analysis, "llm_pooled_vs_control", "acuity_distance")
    assert acuity.test == "mann_whitney"
    assert acuity.a.n == 3 * ANSWERED and acuity.b.n == ANSWERED
    assert 0 <= acuity.mann_whitney_f <= 1
    by_arm = {c.arm: c for c in analysis.calibration}
    assert set(by_arm) == set(COUNTS)
    assert by_arm["control"].n == ANSWERED
    assert by_arm["control"].brier is not None and by_arm["control"].auroc is not None


def test_models_for_the_confirmatory_family():
    study = build_planned_study().study
    analysis = plan_analysis(study=study, models=True)
    result = _result(analysis, "llm_pooled_vs_control", "conditions")
    assert result.adjusted["method"] == "gee_logistic"
    assert result.adjusted["fallback_reason"] is None
    assert result.adjusted["n_clusters"] == 4 * PARTICIPANTS
    assert result.adjusted["ci_low"] < result.adjusted["odds_ratio"] < result.adjusted["ci_high"]
    assert (
        result.bootstrap["ci_low"] < result.figures.risk_difference < result.bootstrap["ci_high"]
    )
    # Secondary outcomes and sensitivity sets are not fitted.
    assert _result(analysis, "llm_pooled_vs_control", "red_flag").adjusted is None


def test_participant_bootstrap_is_reproducible_and_clusters():
    rows = [
        {"arm": arm, "participant": f"{arm}{i}", "correct": (i + j) % 3 == 0}
        for arm in ("a", "b")
        for i in range(20)
        for j in range(2)
    ]
    first = participant_bootstrap_rd(rows, n_boot=500, seed=7)
    assert first == participant_bootstrap_rd(rows, n_boot=500, seed=7)
    assert first[0] < 0 < first[1] or first[0] <= first[1]
    assert participant_bootstrap_rd(rows[:2], n_boot=500, seed=7) is None


def test_lock_then_amendment_labels_additions_exploratory():
    study = build_planned_study().study
    user = make_user("pi")
    plan_lock_at_first_allocation(study=study, design={"arms": ["x"]}, now=study.created_at)
    state = plan_state(study=study)
    assert state.locked is not None and not state.amended
    assert len(state.locked.design_sha256) == 64
    analysis = plan_analysis(study=study, models=False)
    assert {r.status for r in analysis.results} == {"planned"}
    content = plan_current(study=study).content
    content["contrasts"].append(
        {
            "key": "gpt_vs_llama",
            "label": "gpt vs llama",
            "a": ["gpt"],
            "b": ["llama"],
            "primary": False,
        }
    )
    with pytest.raises(ValueError, match="say why"):
        plan_save(study=study, content=content, changed_by=user)
    amended = plan_save(study=study, content=content, changed_by=user, reason="a reviewer asked")
    assert amended.version == 2 and amended.locked_at is None
    analysis = plan_analysis(study=study, models=False)
    statuses = {r.contrast: r.status for r in analysis.results}
    assert statuses["gpt_vs_llama"] == "exploratory"
    assert statuses["llm_pooled_vs_control"] == "planned"


def test_plan_validation_names_every_problem():
    content = analysis_plan.default_plan()
    content["alpha"] = 2
    content["outcomes"][0]["key"] = "nope"
    content["contrasts"][0]["a"] = ["missing-arm"]
    with pytest.raises(analysis_plan.PlanError) as error:
        analysis_plan.validate(content, arm_keys=["gpt", "control"])
    text = str(error.value)
    assert "alpha" in text and "outcomes[0]" in text and "missing-arm" in text


def test_canonical_json_ignores_key_order():
    content = analysis_plan.default_plan()
    reordered = dict(reversed(list(content.items())))
    assert analysis_plan.plan_sha256(content) == analysis_plan.plan_sha256(reordered)
    assert analysis_plan.canonical_json(content).startswith('{"adjusted":')


def test_min_turns_counts_participant_messages():
    from studyapp.chat.models import Message

    study = build_planned_study().study
    user = make_user("pi")
    content = plan_current(study=study).content
    content["per_protocol"]["min_turns"] = 2
    plan_save(study=study, content=content, changed_by=user)
    # Everybody sent one message: nobody in an LLM arm is per protocol now.
    result = _result(
        plan_analysis(study=study, models=False),
        "each_llm_vs_control:gpt",
        "disposition",
        "per_protocol",
    )
    assert result.a.n == 0 and result.b.n > 0
    # A second message from one gpt participant (both tasks) brings their two tasks back.
    first = Message.objects.filter(conversation__arm__key="gpt").order_by("pk").first()
    task = first.conversation.task
    for conversation in task.participant.tasks.all():
        if hasattr(conversation, "conversation"):
            Message.objects.create(
                conversation=conversation.conversation,
                sequence=3,
                role=Message.Role.USER,
                text="and?",
                status=Message.Status.COMPLETE,
            )
    result = _result(
        plan_analysis(study=study, models=False),
        "each_llm_vs_control:gpt",
        "disposition",
        "per_protocol",
    )
    assert task.participant.status == "completed"
    assert result.a.n == 2
