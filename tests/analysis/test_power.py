"""The sample-size calculator against statsmodels called directly, and a textbook figure."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from studyapp.analysis.power import (
    PowerInputs,
    odds_ratio_of,
    p_from_odds_ratio,
    power_inputs,
    sample_size,
)

SOLVER = NormalIndPower()


def solve(h, *, alpha=0.05, power=0.8, ratio=1.0, alternative="two-sided") -> float:
    return SOLVER.solve_power(
        effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=ratio, alternative=alternative
    )


def test_it_matches_the_textbook_figure_for_half_against_six_tenths():
    # Cohen's h for 0.5 vs 0.6 is 0.2014; two-sided alpha 0.05, power 0.8: about 385-388
    # per group in the tables (388 by the arcsine formula, 2·((z.975 + z.8) / h)²).
    result = sample_size(p_control=0.5, p_llm=0.6, arms=2)
    assert result.inputs.effect_size == pytest.approx(0.2013579, abs=1e-6)
    assert [arm.answers_needed for arm in result.arms] == [388, 388]
    z = 1.959963984540054 + 0.8416212335729143
    # The closed form ignores the far tail of the two-sided test, which statsmodels counts.
    assert result.arms[0].effective_answers == pytest.approx(2 * (z / 0.2013579208) ** 2, rel=1e-5)
    assert 385 <= result.arms[0].effective_answers <= 388
    assert result.total_participants == 776
    assert result.achieved_power >= 0.8


def test_two_arms_one_answer_each_is_statsmodels_exactly():
    result = sample_size(p_control=0.3, p_llm=0.45, arms=2, alpha=0.01, power=0.9)
    h = proportion_effectsize(0.45, 0.3)
    n = solve(h, alpha=0.01, power=0.9)
    assert result.arms[0].effective_answers == pytest.approx(n, rel=1e-12)
    assert result.arms[1].effective_answers == pytest.approx(n, rel=1e-12)
    assert result.arms[0].participants == math.ceil(n)
    assert result.achieved_power == pytest.approx(
        SOLVER.power(h, nobs1=math.ceil(n), alpha=0.01, ratio=1.0)
    )


def test_the_effect_can_be_an_odds_ratio():
    p = p_from_odds_ratio(0.5, 1.5)
    assert p == pytest.approx(0.6)
    assert odds_ratio_of(0.5, p) == pytest.approx(1.5)
    by_or = sample_size(p_control=0.5, odds_ratio=1.5, arms=2)
    by_p = sample_size(p_control=0.5, p_llm=0.6, arms=2)
    assert by_or.arms == by_p.arms
    assert by_or.inputs.odds_ratio == pytest.approx(1.5)
    # An odds ratio below 1 (the LLM arms worse) asks for the same size as its mirror.
    low = sample_size(p_control=0.3, odds_ratio=0.5, arms=2)
    assert low.inputs.p_llm == pytest.approx(0.3 * 0.5 / 0.7 / (1 + 0.3 * 0.5 / 0.7))
    assert low.arms[0].effective_answers == pytest.approx(
        solve(proportion_effectsize(low.inputs.p_llm, 0.3))
    )


def test_the_design_effect_inflates_answers_and_rounds_to_whole_participants():
    result = sample_size(p_control=0.5, p_llm=0.6, arms=2, answers_per_participant=2, icc=0.05)
    assert result.inputs.design_effect == pytest.approx(1.05)
    n = solve(proportion_effectsize(0.6, 0.5))
    control = result.arms[0]
    assert control.effective_answers == pytest.approx(n)
    assert control.answers_needed == math.ceil(n * 1.05)  # 407
    assert control.participants == math.ceil(math.ceil(n * 1.05) / 2)  # 204
    assert control.answers == control.participants * 2  # 408: a quota of whole participants
    assert result.quota_per_arm == 408
    assert result.total_participants == 2 * 204
    assert result.achieved_power == pytest.approx(
        SOLVER.power(proportion_effectsize(0.6, 0.5), nobs1=408 / 1.05, alpha=0.05, ratio=1.0)
    )


def test_an_icc_of_one_makes_each_participant_worth_one_answer():
    one = sample_size(p_control=0.5, p_llm=0.6, arms=2)
    five = sample_size(p_control=0.5, p_llm=0.6, arms=2, answers_per_participant=5, icc=1.0)
    assert five.inputs.design_effect == 5
    assert five.arms[0].participants == one.arms[0].participants
    assert five.arms[0].answers == 5 * one.arms[0].answers


def test_an_icc_of_zero_makes_answers_independent():
    result = sample_size(p_control=0.5, p_llm=0.6, arms=2, answers_per_participant=2, icc=0)
    assert result.arms[0].answers_needed == 388
    assert result.arms[0].participants == 194


def test_pooled_llm_arms_against_control_use_a_k_minus_1_to_1_allocation():
    h = proportion_effectsize(0.6, 0.5)
    result = sample_size(
        p_control=0.5, odds_ratio=1.5, arms=4, answers_per_participant=2, icc=0.05
    )
    assert result.inputs.allocation_ratios == (3.0,)
    n = solve(h, ratio=3.0)
    assert [arm.effective_answers for arm in result.arms] == pytest.approx([n] * 4)
    assert [arm.answers_needed for arm in result.arms] == [math.ceil(n * 1.05)] * 4
    assert result.total_participants == 4 * math.ceil(math.ceil(n * 1.05) / 2)
    # Power at the rounded sizes: control against the three LLM arms' answers together.
    control = result.arms[0].answers / 1.05
    llm = sum(arm.answers for arm in result.arms[1:]) / 1.05
    assert result.achieved_powers == pytest.approx(
        (SOLVER.power(h, nobs1=control, alpha=0.05, ratio=llm / control),)
    )


def test_each_llm_arm_against_control_splits_alpha_by_bonferroni():
    h = proportion_effectsize(0.6, 0.5)
    result = sample_size(p_control=0.5, p_llm=0.6, arms=4, comparison="each")
    assert result.inputs.n_comparisons == 3
    assert result.inputs.alpha_per_comparison == pytest.approx(0.05 / 3)
    n = solve(h, alpha=0.05 / 3)
    assert result.arms[0].effective_answers == pytest.approx(n)
    assert len(result.achieved_powers) == 3
    assert all(p >= 0.8 for p in result.achieved_powers)
    # More comparisons, more answers per arm than the pooled contrast's 2-arm equivalent.
    assert n > solve(h)


def test_arm_weights_set_each_arms_share():
    h = proportion_effectsize(0.6, 0.5)
    pooled = sample_size(p_control=0.5, p_llm=0.6, arm_weights=[2, 1, 1, 1])
    assert pooled.inputs.allocation_ratios == (1.5,)
    n = solve(h, ratio=1.5)
    assert [arm.effective_answers for arm in pooled.arms] == pytest.approx(
        [n, n / 2, n / 2, n / 2]
    )
    # "each": the lightest LLM arm is the hardest comparison and sizes the control arm.
    each = sample_size(p_control=0.5, p_llm=0.6, arm_weights=[1, 2, 1], comparison="each")
    n = max(solve(h, alpha=0.025, ratio=2.0), solve(h, alpha=0.025, ratio=1.0))
    assert n == solve(h, alpha=0.025, ratio=1.0)
    assert [arm.effective_answers for arm in each.arms] == pytest.approx([n, 2 * n, n])
    assert each.achieved_powers[0] > each.achieved_powers[1] >= 0.8
    assert each.quota_per_arm == each.arms[1].answers


def test_one_sided_tests_in_the_direction_of_the_effect():
    h = proportion_effectsize(0.4, 0.5)  # the LLM arms worse: h < 0
    result = sample_size(p_control=0.5, p_llm=0.4, arms=2, sidedness="one-sided")
    n = solve(abs(h), alternative="larger")
    assert result.arms[0].effective_answers == pytest.approx(n)
    assert n < solve(h)  # fewer than two-sided


@settings(max_examples=60, deadline=None)
@given(
    p_control=st.floats(0.05, 0.95),
    delta=st.floats(0.05, 0.3),
    arms=st.integers(2, 6),
    comparison=st.sampled_from(["pooled", "each"]),
    m=st.integers(1, 10),
    icc=st.floats(0, 0.5),
    power=st.floats(0.6, 0.95),
)
def test_rounded_sizes_always_reach_the_power_asked(
    p_control, delta, arms, comparison, m, icc, power
):
    p_llm = p_control + delta if p_control + delta < 0.99 else p_control - delta
    result = sample_size(
        p_control=p_control,
        p_llm=p_llm,
        arms=arms,
        comparison=comparison,
        power=power,
        answers_per_participant=m,
        icc=icc,
    )
    assert result.achieved_power >= power - 1e-9
    for arm in result.arms:
        assert arm.answers_needed >= arm.effective_answers * result.inputs.design_effect - 1e-6
        assert arm.answers == arm.participants * m >= arm.answers_needed
        assert arm.participants - 1 < arm.answers_needed / m <= arm.participants


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p_control": 0.0, "p_llm": 0.5}, "control proportion must be between 0 and 1"),
        ({"p_control": 1.2, "p_llm": 0.5}, "control proportion must be between 0 and 1"),
        ({"p_control": 0.5, "p_llm": 1.0}, "LLM arms' proportion must be between 0 and 1"),
        ({"p_control": 0.5, "p_llm": 0.5}, "identical"),
        ({"p_control": 0.5, "odds_ratio": 1.0}, "odds ratio of 1"),
        ({"p_control": 0.5, "odds_ratio": -2.0}, "positive"),
        ({"p_control": 0.5}, "Give the effect once"),
        ({"p_control": 0.5, "p_llm": 0.6, "odds_ratio": 1.5}, "Give the effect once"),
        ({"p_control": 0.5, "p_llm": 0.6, "power": 1.0}, "power must be between 0 and 1"),
        ({"p_control": 0.5, "p_llm": 0.6, "power": 0.0}, "power must be between 0 and 1"),
        ({"p_control": 0.5, "p_llm": 0.6, "alpha": 0.0}, "Alpha must be between 0 and 1"),
        ({"p_control": 0.5, "p_llm": 0.6, "alpha": 0.5, "power": 0.4}, "must be above the alpha"),
        ({"p_control": 0.5, "p_llm": 0.6, "arms": 1}, "at least two arms"),
        ({"p_control": 0.5, "p_llm": 0.6, "arms": None}, "number of arms or their weights"),
        ({"p_control": 0.5, "p_llm": 0.6, "arm_weights": [1, 0]}, "positive numbers"),
        ({"p_control": 0.5, "p_llm": 0.6, "arms": 3, "arm_weights": [1, 1]}, "3 arms but 2"),
        ({"p_control": 0.5, "p_llm": 0.6, "comparison": "all"}, "comparison must be one of"),
        ({"p_control": 0.5, "p_llm": 0.6, "sidedness": "left"}, "sidedness must be one of"),
        ({"p_control": 0.5, "p_llm": 0.6, "answers_per_participant": 0}, "whole number"),
        ({"p_control": 0.5, "p_llm": 0.6, "answers_per_participant": 1.5}, "whole number"),
        ({"p_control": 0.5, "p_llm": 0.6, "icc": -0.1}, "intra-class correlation"),
        ({"p_control": 0.5, "p_llm": 0.6, "icc": 1.5}, "intra-class correlation"),
    ],
)
def test_it_refuses_questions_without_an_answer(kwargs, message):
    kwargs = {"arms": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        sample_size(**kwargs)


def test_inputs_are_frozen():
    inputs = power_inputs(p_control=0.5, p_llm=0.6, arms=2)
    assert isinstance(inputs, PowerInputs)
    with pytest.raises(AttributeError):
        inputs.alpha = 0.1  # type: ignore[misc]
