"""Sample size for the primary contrast of a study: two proportions, k arms, and the
clustering of several answers per participant (pure: no ORM, no Django).

The contrast compares the proportion of answers correct in the control arm with that in
the LLM arms, either pooled (all k-1 LLM arms as one group, HELPMed's headline contrast)
or each LLM arm against control (k-1 comparisons). statsmodels does the arithmetic:
`proportion_effectsize` gives Cohen's h = 2·asin(√p_llm) - 2·asin(√p_control), and
`NormalIndPower` solves the normal-approximation test of two independent groups for the
control group's size, with `ratio` = the other group's size over control's.

Two adjustments sit on top, and each is stated where the result is shown:
- Several comparisons ("each"): the alpha is split by Bonferroni (alpha / (k-1)). The plan
  tests them with Holm, which rejects everything Bonferroni rejects, so Bonferroni's sizes
  are a conservative bound: each comparison has at least the stated power under Holm.
- Several answers per participant: answers of one participant are correlated, so m answers
  carry less information than m participants. The design effect 1 + (m-1)·ICC (Kish, equal
  cluster sizes, one intra-class correlation) inflates the independent-answer size. The
  scenarios are a second, crossed source of correlation that this factor does not cover.

Every size is rounded up to whole participants; the quota (`Study.quota_per_arm` counts
responses) is then participants x m, because an arm refuses a participant whose m answers
would pass its quota (`participation.assignment.arm_is_open`), so a quota that is not a
multiple of m stops at the multiple below it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

Comparison = Literal["pooled", "each"]
Sidedness = Literal["two-sided", "one-sided"]

COMPARISONS: dict[str, str] = {
    "pooled": "All LLM arms pooled vs control",
    "each": "Each LLM arm vs control (Bonferroni-split alpha)",
}
SIDEDNESS: dict[str, str] = {
    "two-sided": "Two-sided",
    "one-sided": "One-sided, in the direction of the effect",
}
# statsmodels' name for each sidedness. A one-sided test is planned in the direction of the
# stated effect, so it is always "larger" on |h| (statsmodels refuses a negative h there).
_ALTERNATIVE = {"two-sided": "two-sided", "one-sided": "larger"}
# Rounding up must not turn 388.0000000001 (floating-point noise) into 389.
_CEIL_SLACK = 1e-9


def p_from_odds_ratio(p_control: float, odds_ratio: float) -> float:
    """The proportion whose odds are `odds_ratio` times the odds of `p_control`."""
    _check_open_unit("the control proportion", p_control)
    if not (odds_ratio > 0 and math.isfinite(odds_ratio)):
        raise ValueError(f"The odds ratio must be a positive number; got {odds_ratio}.")
    odds = odds_ratio * p_control / (1 - p_control)
    return odds / (1 + odds)


def odds_ratio_of(p_control: float, p_llm: float) -> float:
    return (p_llm / (1 - p_llm)) / (p_control / (1 - p_control))


@dataclass(frozen=True)
class PowerInputs:
    """The question asked: validated on construction, so a PowerInputs is always
    answerable. `arm_weights` are the allocation weights, control first."""

    p_control: float
    p_llm: float
    arm_weights: tuple[float, ...]
    comparison: Comparison
    alpha: float
    power: float
    sidedness: Sidedness
    answers_per_participant: int
    icc: float

    def __post_init__(self) -> None:
        _check_open_unit("the control proportion", self.p_control)
        _check_open_unit("the LLM arms' proportion", self.p_llm)
        if self.p_llm == self.p_control:
            raise ValueError(
                "The two proportions are identical: there is no effect to detect "
                "(an odds ratio of 1)."
            )
        if len(self.arm_weights) < 2:
            raise ValueError("A contrast needs at least two arms: control and one LLM arm.")
        if not all(w > 0 and math.isfinite(w) for w in self.arm_weights):
            raise ValueError(f"Arm weights must be positive numbers; got {self.arm_weights}.")
        if self.comparison not in COMPARISONS:
            raise ValueError(
                f"The comparison must be one of {sorted(COMPARISONS)}; got {self.comparison!r}."
            )
        if self.sidedness not in SIDEDNESS:
            raise ValueError(
                f"The sidedness must be one of {sorted(SIDEDNESS)}; got {self.sidedness!r}."
            )
        _check_open_unit("alpha", self.alpha)
        _check_open_unit("the power", self.power)
        if self.power <= self.alpha_per_comparison:
            raise ValueError(
                f"The power ({self.power}) must be above the alpha of each comparison "
                f"({self.alpha_per_comparison:.4g}): any sample reaches that much."
            )
        m = self.answers_per_participant
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"Answers per participant must be a whole number ≥ 1; got {m!r}.")
        if not (0 <= self.icc <= 1):
            raise ValueError(
                f"The intra-class correlation must be between 0 and 1; got {self.icc}."
            )

    @property
    def arms(self) -> int:
        return len(self.arm_weights)

    @property
    def n_comparisons(self) -> int:
        return 1 if self.comparison == "pooled" else self.arms - 1

    @property
    def alpha_per_comparison(self) -> float:
        return self.alpha / self.n_comparisons

    @property
    def odds_ratio(self) -> float:
        return odds_ratio_of(self.p_control, self.p_llm)

    @property
    def effect_size(self) -> float:
        """Cohen's h of the LLM arms against control (its sign says which is higher)."""
        return float(proportion_effectsize(self.p_llm, self.p_control))

    @property
    def design_effect(self) -> float:
        return 1 + (self.answers_per_participant - 1) * self.icc

    @property
    def alternative(self) -> str:
        return _ALTERNATIVE[self.sidedness]

    @property
    def allocation_ratios(self) -> tuple[float, ...]:
        """statsmodels' `ratio` (other group / control) of each comparison."""
        control, *llm = self.arm_weights
        if self.comparison == "pooled":
            return (sum(llm) / control,)
        return tuple(w / control for w in llm)


@dataclass(frozen=True)
class ArmSize:
    """One arm's share: `effective_answers` as if answers were independent (unrounded),
    `answers_needed` after the design effect, then whole participants and their answers."""

    label: str
    weight: float
    effective_answers: float
    answers_needed: int
    participants: int
    answers: int


@dataclass(frozen=True)
class SampleSize:
    inputs: PowerInputs
    arms: tuple[ArmSize, ...]
    # Achieved power of each comparison at the rounded sizes (one for "pooled").
    achieved_powers: tuple[float, ...]

    @property
    def total_participants(self) -> int:
        return sum(arm.participants for arm in self.arms)

    @property
    def total_answers(self) -> int:
        return sum(arm.answers for arm in self.arms)

    @property
    def achieved_power(self) -> float:
        """The weakest comparison's power: the one the plan is only as good as."""
        return min(self.achieved_powers)

    @property
    def quota_per_arm(self) -> int:
        """One quota for every arm (`Study.quota_per_arm`): the largest arm's answers, so
        that every arm can reach its size (with unequal weights the lighter arms may then
        fill past theirs)."""
        return max(arm.answers for arm in self.arms)


def sample_size(
    *,
    p_control: float,
    p_llm: float | None = None,
    odds_ratio: float | None = None,
    arms: int | None = None,
    arm_weights: Sequence[float] | None = None,
    comparison: Comparison = "pooled",
    alpha: float = 0.05,
    power: float = 0.8,
    sidedness: Sidedness = "two-sided",
    answers_per_participant: int = 1,
    icc: float = 0.0,
) -> SampleSize:
    """Answers and participants per arm for the primary contrast.

    The effect is `p_llm` (the smallest proportion correct in the LLM arms worth
    detecting) or `odds_ratio` (LLM vs control), exactly one of them. Give `arms` (equal
    weights) or `arm_weights` (control first), or both if they agree.
    """
    return sample_size_for(
        power_inputs(
            p_control=p_control,
            p_llm=p_llm,
            odds_ratio=odds_ratio,
            arms=arms,
            arm_weights=arm_weights,
            comparison=comparison,
            alpha=alpha,
            power=power,
            sidedness=sidedness,
            answers_per_participant=answers_per_participant,
            icc=icc,
        )
    )


def power_inputs(
    *,
    p_control: float,
    p_llm: float | None = None,
    odds_ratio: float | None = None,
    arms: int | None = None,
    arm_weights: Sequence[float] | None = None,
    comparison: Comparison = "pooled",
    alpha: float = 0.05,
    power: float = 0.8,
    sidedness: Sidedness = "two-sided",
    answers_per_participant: int = 1,
    icc: float = 0.0,
) -> PowerInputs:
    """PowerInputs from an effect given either way, and arms given by count or weights."""
    if (p_llm is None) == (odds_ratio is None):
        raise ValueError("Give the effect once: the LLM arms' proportion or an odds ratio.")
    if odds_ratio is not None:
        if odds_ratio == 1:
            raise ValueError("An odds ratio of 1 is no effect: there is nothing to detect.")
        p_llm = p_from_odds_ratio(p_control, odds_ratio)
    p_llm = float(p_llm)  # type: ignore[arg-type]  # set by either branch above
    if arm_weights is None:
        if arms is None:
            raise ValueError("Give the number of arms or their weights.")
        if isinstance(arms, bool) or not isinstance(arms, int) or arms < 2:
            raise ValueError(
                f"A contrast needs at least two arms (control and one LLM arm); got {arms!r}."
            )
        arm_weights = (1.0,) * arms
    elif arms is not None and arms != len(arm_weights):
        raise ValueError(f"{arms} arms but {len(arm_weights)} weights.")
    return PowerInputs(
        p_control=p_control,
        p_llm=p_llm,
        arm_weights=tuple(float(w) for w in arm_weights),
        comparison=comparison,
        alpha=alpha,
        power=power,
        sidedness=sidedness,
        answers_per_participant=answers_per_participant,
        icc=icc,
    )


def sample_size_for(inputs: PowerInputs) -> SampleSize:
    analysis = NormalIndPower()
    h = abs(inputs.effect_size)
    # Allocation fixes every arm's size relative to control's, so the control size that
    # satisfies the hardest comparison (the lightest LLM arm, under "each") sizes them all.
    control_effective = max(
        _solve_control(analysis, inputs=inputs, effect=h, ratio=ratio)
        for ratio in inputs.allocation_ratios
    )
    control_weight = inputs.arm_weights[0]
    m = inputs.answers_per_participant
    sizes = []
    for i, weight in enumerate(inputs.arm_weights):
        effective = control_effective * weight / control_weight
        needed = _ceil(effective * inputs.design_effect)
        participants = _ceil(needed / m)
        sizes.append(
            ArmSize(
                label="Control" if i == 0 else f"LLM arm {i}",
                weight=weight,
                effective_answers=effective,
                answers_needed=needed,
                participants=participants,
                answers=participants * m,
            )
        )
    return SampleSize(
        inputs=inputs,
        arms=tuple(sizes),
        achieved_powers=_achieved(analysis, inputs=inputs, effect=h, arms=sizes),
    )


def _solve_control(analysis: NormalIndPower, *, inputs: PowerInputs, effect: float, ratio: float):
    n = analysis.solve_power(
        effect_size=effect,
        nobs1=None,
        alpha=inputs.alpha_per_comparison,
        power=inputs.power,
        ratio=ratio,
        alternative=inputs.alternative,
    )
    n = float(n)
    if not math.isfinite(n) or n <= 0:
        raise ValueError(
            f"No sample size reaches power {inputs.power} for this effect (h = {effect:.4g})."
        )
    return n


def _achieved(
    analysis: NormalIndPower, *, inputs: PowerInputs, effect: float, arms: Sequence[ArmSize]
) -> tuple[float, ...]:
    """Power at the rounded answers, each divided by the design effect."""
    de = inputs.design_effect
    control, *llm = arms
    n_control = control.answers / de
    if inputs.comparison == "pooled":
        others = [sum(arm.answers for arm in llm) / de]
    else:
        others = [arm.answers / de for arm in llm]
    return tuple(
        float(
            analysis.power(
                effect_size=effect,
                nobs1=n_control,
                alpha=inputs.alpha_per_comparison,
                ratio=n_other / n_control,
                alternative=inputs.alternative,
            )
        )
        for n_other in others
    )


def _ceil(x: float) -> int:
    return math.ceil(x - _CEIL_SLACK)


def _check_open_unit(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0 < value < 1):
        raise ValueError(
            f"{name[0].upper()}{name[1:]} must be between 0 and 1 (exclusive); got {value!r}."
        )
