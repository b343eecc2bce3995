"""Inference for the analysis plan: contrasts, multiplicity, clustered intervals,
calibration and a GEE model. Pure: plain data in, frozen dataclasses out, no ORM.

As in `statistics`, every figure comes from numpy, scipy or statsmodels (the tests call
them directly on the same data); this module says which test applies and what happens
at the edges. With no data a value is None and a model gives a `fallback_reason`, never
an exception, so a study with few answers still renders.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.stats.contingency import expected_freq
from statsmodels.stats.proportion import confint_proportions_2indep

from studyapp.analysis.statistics import compare_proportions

# --- Two arms, one binary outcome -------------------------------------------------------


@dataclass(frozen=True)
class Contrast:
    """Arm a against arm b: odds ratio (a's odds over b's), risk difference (a - b), and
    the p of the test the rule picked (`test`), with both tests' p values alongside."""

    odds_ratio: float | None
    or_ci_low: float | None
    or_ci_high: float | None
    risk_difference: float | None
    rd_ci_low: float | None
    rd_ci_high: float | None
    test: str | None  # "chi2" or "fisher"
    p: float | None
    chi2_p: float | None
    fisher_p: float | None
    min_expected: float | None
    note: str = ""

    def as_dict(self) -> dict[str, float | str | None]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


HALDANE_NOTE = "a zero cell: 0.5 added to every cell for the odds ratio (Haldane-Anscombe)"


def two_by_two(a_success: int, a_n: int, b_success: int, b_n: int) -> Contrast:
    """Odds ratio, risk difference and a test of a 2x2 table (successes/failures x a/b).

    - Odds ratio: statsmodels Table2x2, 95% CI by the log (Woolf) method; with a zero cell
      0.5 is added to every cell first (Haldane-Anscombe), and `note` says so.
    - Risk difference: a's proportion minus b's, 95% CI by Newcombe's hybrid score method
      (statsmodels confint_proportions_2indep, method="newcomb").
    - Test, by the rule stated in the analysis plan: Pearson's χ² (1 df, no continuity
      correction, as HELPMed) unless an expected count is below 5, then Fisher's exact
      test (two-sided). `p` is the chosen test's; `chi2_p` is None where χ² is undefined
      (an empty column).
    An arm with no data gives a Contrast of Nones.
    """
    if a_n <= 0 or b_n <= 0:
        return Contrast(*([None] * 11), note="an arm has no data")
    comparison = compare_proportions(a_success, a_n, b_success, b_n)
    table = np.array([[a_success, a_n - a_success], [b_success, b_n - b_success]])
    min_expected = float(expected_freq(table).min())
    test = "fisher" if min_expected < 5 else "chi2"
    rd_low, rd_high = confint_proportions_2indep(
        a_success, a_n, b_success, b_n, method="newcomb", compare="diff"
    )
    return Contrast(
        odds_ratio=comparison.odds_ratio,
        or_ci_low=comparison.or_ci_low,
        or_ci_high=comparison.or_ci_high,
        risk_difference=a_success / a_n - b_success / b_n,
        rd_ci_low=float(rd_low),
        rd_ci_high=float(rd_high),
        test=test,
        p=comparison.fisher_p if test == "fisher" else comparison.chi2_p,
        chi2_p=comparison.chi2_p,
        fisher_p=comparison.fisher_p,
        min_expected=min_expected,
        note=HALDANE_NOTE if (table == 0).any() else "",
    )


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, as statsmodels' multipletests(method="holm")
    computes them (the tests compare the two): the k-th smallest p is multiplied by
    (m - k + 1), kept monotone and capped at 1. Controls the family-wise error rate like
    Bonferroni and is never less powerful.

    The same arithmetic in numpy rather than a call: multipletests runs the garbage
    collector on every Holm call (about 0.1 s each), which the dashboard cannot afford.
    """
    if not len(pvalues):
        return []
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    stepped = np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(v) for v in adjusted]


# --- Clustered bootstrap ---------------------------------------------------------------


def cluster_bootstrap_ci(
    values: Sequence[float],
    clusters: Sequence[object],
    *,
    stat: Callable[[np.ndarray], float] = np.mean,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float] | None:
    """Percentile CI of `stat` by resampling whole clusters (participants, scenarios).

    Answers from one participant (or on one scenario) are not independent; resampling
    clusters with replacement keeps each cluster's answers together, so the interval
    reflects between-cluster variation that an iid bootstrap ignores. The clusters are
    taken in sorted order and one draw `rng.integers(0, k, size=(n_boot, k))` from
    `np.random.default_rng(seed)` picks them: the same seed gives the same interval.
    Each resample's statistic is `stat` of its pooled values. Fewer than two clusters: None.
    """
    data = np.asarray(values, dtype=float)
    labels = np.asarray(clusters)
    if data.shape != labels.shape:
        raise ValueError("values and clusters differ in length")
    if data.size == 0:
        return None
    names, index = np.unique(labels, return_inverse=True)
    if len(names) < 2:
        return None
    groups = [data[index == i] for i in range(len(names))]
    draws = np.random.default_rng(seed).integers(0, len(groups), size=(n_boot, len(groups)))
    boots = np.array([stat(np.concatenate([groups[i] for i in draw])) for draw in draws])
    low, high = np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


# --- Calibration of stated confidence ---------------------------------------------------


def _calibration_data(
    confidence: Sequence[float], correct: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=float)
    outcome = np.asarray(correct, dtype=bool)
    if conf.shape != outcome.shape:
        raise ValueError("confidence and correct differ in length")
    if ((conf < 0) | (conf > 100)).any() or np.isnan(conf).any():
        raise ValueError("confidence must lie in 0..100")
    return conf, outcome


def brier(confidence_0_100: Sequence[float], correct: Sequence[bool]) -> float | None:
    """Brier score: mean of (confidence/100 - correct)². 0 is perfect; always saying 50
    scores 0.25. No answers: None."""
    conf, outcome = _calibration_data(confidence_0_100, correct)
    if not conf.size:
        return None
    return float(np.mean((conf / 100 - outcome) ** 2))


def auroc(confidence: Sequence[float], correct: Sequence[bool]) -> float | None:
    """Area under the ROC curve of confidence as a predictor of a correct answer.

    The probability that a correct answer carries more confidence than a wrong one, ties
    counting half; computed from midranks as the Mann-Whitney U of the correct answers
    over n_correct·n_wrong. 0.5 is no discrimination. None without both kinds of answer.
    """
    conf, outcome = _calibration_data(confidence, correct)
    n1, n0 = int(outcome.sum()), int((~outcome).sum())
    if not n1 or not n0:
        return None
    ranks = stats.rankdata(conf)
    u = ranks[outcome].sum() - n1 * (n1 + 1) / 2
    return float(u / (n1 * n0))


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    n: int
    mean_confidence: float | None  # 0..100, None for an empty bin
    accuracy: float | None  # 0..1

    def as_dict(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class ReliabilityCurve:
    edges: tuple[float, ...]
    bins: tuple[ReliabilityBin, ...]

    def as_dict(self) -> dict:
        return {"edges": list(self.edges), "bins": [b.as_dict() for b in self.bins]}


def reliability_curve(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> ReliabilityCurve:
    """Observed accuracy against stated confidence in `bins` equal-width bins of 0..100.

    Bins are half-open [low, high) except the last, which holds 100 (numpy.histogram's
    rule). A calibrated rater's points lie on accuracy = confidence/100.
    """
    conf, outcome = _calibration_data(confidence, correct)
    edges = np.linspace(0.0, 100.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    out = []
    for i in range(bins):
        inside = which == i
        n = int(inside.sum())
        out.append(
            ReliabilityBin(
                low=float(edges[i]),
                high=float(edges[i + 1]),
                n=n,
                mean_confidence=float(conf[inside].mean()) if n else None,
                accuracy=float(outcome[inside].mean()) if n else None,
            )
        )
    return ReliabilityCurve(edges=tuple(float(e) for e in edges), bins=tuple(out))


# --- GEE logistic regression ------------------------------------------------------------


@dataclass(frozen=True)
class ArmEffect:
    """One arm against the reference arm, adjusted for scenario: Wald 95% CI on the
    robust (sandwich) standard error, on the odds-ratio scale."""

    arm: str
    odds_ratio: float
    ci_low: float
    ci_high: float
    p: float

    def as_dict(self) -> dict[str, float | str]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class GeeFit:
    reference: str
    arms: tuple[ArmEffect, ...]
    n: int
    n_clusters: int
    fallback_reason: str | None = None
    note: str = ""

    def as_dict(self) -> dict:
        return {
            "reference": self.reference,
            "arms": [a.as_dict() for a in self.arms],
            "n": self.n,
            "n_clusters": self.n_clusters,
            "fallback_reason": self.fallback_reason,
            "note": self.note,
        }


# An odds ratio beyond e^10 (≈ 22,000) is a fit running off to infinity, not an estimate.
_DIVERGED_LOG_ODDS = 10.0


def gee_logistic(
    rows: Sequence[Mapping],
    *,
    reference: str,
    outcome: str = "correct",
    arm: str = "arm",
    scenario: str = "scenario",
    cluster: str = "participant",
) -> GeeFit:
    """GEE logistic regression: outcome ~ arm (treatment contrast against `reference`)
    + scenario, clustered on `cluster`, Binomial family, exchangeable working correlation
    (statsmodels GEE), with robust (sandwich) standard errors.

    Answers of one participant are correlated; GEE gives population-averaged odds
    ratios whose standard errors allow for that. A scenario on which every outcome is the
    same carries no information on the arms (its coefficient would run to infinity):
    its rows are left out and `note` names it. Instead of raising, `fallback_reason`
    says why no model was fitted: no data, one outcome only, an unknown reference, one
    arm, an arm whose outcomes are all the same (perfect separation), a single cluster,
    no more clusters than parameters (too few rows or participants for the sandwich), or
    a fit that did not converge or diverged.
    """
    import pandas as pd

    data = pd.DataFrame(
        {
            "y": [int(bool(row[outcome])) for row in rows],
            "arm": [str(row[arm]) for row in rows],
            "scenario": [str(row[scenario]) for row in rows],
            "cluster": [str(row[cluster]) for row in rows],
        }
    )
    reason = _gee_precheck(data, reference)
    if reason:
        return _gee_fallback(data, reference, reason)
    constant = sorted(s for s, ys in data.groupby("scenario")["y"] if ys.nunique() < 2)
    note = f"left out, every outcome the same: scenario {', '.join(constant)}" if constant else ""
    data = data[~data["scenario"].isin(constant)]
    reason = _gee_precheck(data, reference) or _gee_design_check(data)
    if reason:
        return _gee_fallback(data, reference, reason, note)
    return _gee_fit(data, reference, note)


def _gee_fallback(data, reference: str, reason: str, note: str = "") -> GeeFit:
    return GeeFit(
        reference=reference,
        arms=(),
        n=len(data),
        n_clusters=int(data["cluster"].nunique()),
        fallback_reason=reason,
        note=note,
    )


def _gee_precheck(data, reference: str) -> str | None:
    if data.empty:
        return "no data"
    if data["y"].nunique() < 2:
        return "every outcome is the same"
    arms = set(data["arm"])
    if reference not in arms:
        return f"reference arm {reference!r} has no data"
    if len(arms) < 2:
        return "one arm only"
    return None


def _gee_design_check(data) -> str | None:
    for name, ys in sorted(data.groupby("arm")["y"]):
        if ys.nunique() < 2:
            return f"perfect separation: every outcome in arm {name!r} is the same"
    clusters = data["cluster"].nunique()
    if clusters < 2:
        return "a single cluster: GEE needs several participants"
    # Each arm and scenario left holds both outcomes, so there are more rows than
    # parameters; the robust covariance needs more clusters than parameters too.
    n_params = data["arm"].nunique() + data["scenario"].nunique() - 1
    if clusters <= n_params:
        return f"{clusters} clusters for {n_params} parameters"
    return None


def _gee_fit(data, reference: str, note: str) -> GeeFit:
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, IterationLimitWarning

    arm_term = f"C(arm, Treatment(reference={reference!r}))"
    formula = f"y ~ {arm_term}" + (" + C(scenario)" if data["scenario"].nunique() > 1 else "")
    fallback = _gee_fallback(data, reference, "the fit did not converge", note)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("error", IterationLimitWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = smf.gee(
                formula,
                groups="cluster",
                data=data,
                family=sm.families.Binomial(),
                cov_struct=sm.cov_struct.Exchangeable(),
            ).fit()
            # Read while RuntimeWarning is ignored too: a negative robust variance (few
            # clusters) gives a NaN standard error with a warning, and a NaN is caught below.
            conf, params, pvalues = fit.conf_int(), fit.params, fit.pvalues
    except (ConvergenceWarning, IterationLimitWarning):
        return fallback
    except (np.linalg.LinAlgError, ValueError) as exc:
        return _gee_fallback(data, reference, f"the fit failed: {type(exc).__name__}", note)
    if not getattr(fit, "converged", True):
        return fallback
    effects = []
    for level in sorted(set(data["arm"]) - {reference}):
        name = f"{arm_term}[T.{level}]"
        values = (params[name], *conf.loc[name], pvalues[name])
        if not all(math.isfinite(v) for v in values) or abs(values[0]) > _DIVERGED_LOG_ODDS:
            return _gee_fallback(data, reference, "perfect separation (estimates diverge)", note)
        effects.append(
            ArmEffect(
                arm=level,
                odds_ratio=math.exp(values[0]),
                ci_low=math.exp(values[1]),
                ci_high=math.exp(values[2]),
                p=float(values[3]),
            )
        )
    return GeeFit(
        reference=reference,
        arms=tuple(effects),
        n=len(data),
        n_clusters=int(data["cluster"].nunique()),
        note=note,
    )
