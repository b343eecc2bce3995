"""The paper's statistics, numbers in and dataclasses out. Pure: no ORM, no Django.

Every figure comes from scipy or statsmodels (tests call them directly and compare);
this module only shapes inputs and outputs and says what happens at the edges: with no
data a value is None, never an exception, so a study with no answers yet still renders.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint


@dataclass(frozen=True)
class Proportion:
    successes: int
    n: int
    value: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "n": self.n,
            "successes": self.successes,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


def wilson(successes: int, n: int, alpha: float = 0.05) -> Proportion:
    """The proportion with its Wilson score interval (statsmodels proportion_confint)."""
    if n <= 0:
        return Proportion(successes=0, n=0, value=None, ci_low=None, ci_high=None)
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} outside 0..{n}")
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    value = successes / n
    # Rounding can leave 1 - 1e-16 as the upper bound of 100%: keep the value inside.
    return Proportion(
        successes=successes,
        n=n,
        value=value,
        ci_low=min(float(low), value),
        ci_high=max(float(high), value),
    )


def bootstrap_ci(
    outcomes: Sequence[bool], *, n_resamples: int = 9999, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of a proportion (scipy.stats.bootstrap, method="percentile").

    Percentile, not BCa: BCa's acceleration is undefined when every outcome is the same
    (a 100% arm is common in model-alone runs), and for a mean of 0/1 outcomes the two
    agree closely otherwise. Fewer than two outcomes: None.
    """
    data = np.asarray(outcomes, dtype=float)
    if data.size < 2:
        return None
    if np.all(data == data[0]):
        # scipy warns on a degenerate distribution; every resample has the same mean.
        return (float(data[0]), float(data[0]))
    result = stats.bootstrap(
        (data,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=1 - alpha,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclass(frozen=True)
class Comparison:
    """Group a against group b. The odds ratio is a's odds of success over b's."""

    chi2: float | None
    chi2_p: float | None
    fisher_p: float | None
    odds_ratio: float | None
    or_ci_low: float | None
    or_ci_high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {
            "chi2": self.chi2,
            "chi2_p": self.chi2_p,
            "fisher_p": self.fisher_p,
            "odds_ratio": self.odds_ratio,
            "or_ci_low": self.or_ci_low,
            "or_ci_high": self.or_ci_high,
        }


_NO_COMPARISON = Comparison(None, None, None, None, None, None)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def compare_proportions(a_successes: int, a_n: int, b_successes: int, b_n: int) -> Comparison:
    """χ² (1 df, no continuity correction, as the paper), Fisher exact, odds ratio + 95% CI.

    The odds ratio and its (log-Wald) CI come from statsmodels Table2x2. When a cell is
    zero, 0.5 is added to every cell first (the Haldane-Anscombe correction), so a 100%
    arm still gets a finite odds ratio. χ² is None when a column is empty (an expected
    count of zero).
    """
    if a_n <= 0 or b_n <= 0:
        return _NO_COMPARISON
    table = np.array([[a_successes, a_n - a_successes], [b_successes, b_n - b_successes]])
    if (table < 0).any():
        raise ValueError("successes outside 0..n")
    chi2 = chi2_p = None
    if (table.sum(axis=0) > 0).all():
        result = stats.chi2_contingency(table, correction=False)
        chi2, chi2_p = _finite(result.statistic), _finite(result.pvalue)
    fisher_p = _finite(stats.fisher_exact(table).pvalue)
    t22 = Table2x2(table + 0.5 if (table == 0).any() else table, shift_zeros=False)
    low, high = t22.oddsratio_confint()
    return Comparison(
        chi2=chi2,
        chi2_p=chi2_p,
        fisher_p=fisher_p,
        odds_ratio=_finite(t22.oddsratio),
        or_ci_low=_finite(low),
        or_ci_high=_finite(high),
    )


@dataclass(frozen=True)
class MannWhitney:
    """U of the first sample; f = U/(n1·n2) = P(a > b) + ½ P(a = b)."""

    u: float | None
    p: float | None
    f: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"u": self.u, "p": self.p, "f": self.f}


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U (scipy) with the common-language effect size f."""
    if not len(a) or not len(b):
        return MannWhitney(None, None, None)
    result = stats.mannwhitneyu(a, b, alternative="two-sided")
    u = float(result.statistic)
    return MannWhitney(u=u, p=_finite(result.pvalue), f=u / (len(a) * len(b)))


def bonferroni(pvalues: Sequence[float]) -> list[float]:
    """Bonferroni-adjusted p-values (statsmodels multipletests), capped at 1."""
    if not len(pvalues):
        return []
    return [float(p) for p in multipletests(list(pvalues), method="bonferroni")[1]]


@dataclass(frozen=True)
class Coefficient:
    """One term of a logistic regression; the CI is the Wald 95% CI on the odds-ratio scale."""

    term: str
    estimate: float
    odds_ratio: float
    ci_low: float
    ci_high: float
    p: float

    def as_dict(self) -> dict[str, float | str]:
        return {
            "term": self.term,
            "estimate": self.estimate,
            "odds_ratio": self.odds_ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p": self.p,
        }


class Coefficients(list[Coefficient]):
    """A list of coefficients, empty with a `reason` when the model could not be fitted."""

    def __init__(
        self, items: Sequence[Coefficient] = (), *, n: int = 0, reason: str | None = None
    ) -> None:
        super().__init__(items)
        self.n = n
        self.reason = reason


_TERM = re.compile(r"^C\(f(\d+), Treatment\(reference=.*\)\)\[T\.(.*)\]$")


def logistic_regression(
    rows: Sequence[Mapping],
    *,
    outcome: str = "correct",
    factors: Sequence[str] = ("arm", "scenario"),
    reference: Mapping[str, str] | None = None,
) -> Coefficients:
    """Logit of a 0/1 outcome on categorical factors (statsmodels formula API).

    Terms are named "arm[T.llm]" (the level against the factor's reference: `reference`
    or else the first level in sorted order) and "Intercept". A factor with one level
    is left out (nothing to estimate). Too little data, one outcome only, perfect
    separation or a fit that does not converge give an empty list with a `reason`.
    """
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    reference = dict(reference or {})
    data = pd.DataFrame(
        {
            "y": [int(bool(row[outcome])) for row in rows],
            **{f"f{i}": [str(row[name]) for row in rows] for i, name in enumerate(factors)},
        }
    )
    n = len(data)
    if n == 0:
        return Coefficients(n=0, reason="no data")
    if data["y"].nunique() < 2:
        return Coefficients(n=n, reason="every outcome is the same")
    terms: list[str] = []
    n_params = 1
    for i, name in enumerate(factors):
        levels = sorted(data[f"f{i}"].unique())
        if len(levels) < 2:
            continue
        ref = reference.get(name, levels[0])
        if ref not in levels:
            return Coefficients(n=n, reason=f"reference {ref!r} is not a level of {name}")
        terms.append(f"C(f{i}, Treatment(reference={ref!r}))")
        n_params += len(levels) - 1
    if not terms:
        return Coefficients(n=n, reason="no factor has two levels")
    if n <= n_params:
        return Coefficients(n=n, reason=f"{n} rows for {n_params} parameters")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = smf.logit("y ~ " + " + ".join(terms), data=data).fit(disp=0, maxiter=100)
    except (PerfectSeparationWarning, PerfectSeparationError):
        return Coefficients(n=n, reason="perfect separation")
    except ConvergenceWarning:
        return Coefficients(n=n, reason="the fit did not converge")
    except (np.linalg.LinAlgError, ValueError) as exc:
        return Coefficients(n=n, reason=f"the fit failed: {type(exc).__name__}")
    if not fit.mle_retvals.get("converged", True):
        return Coefficients(n=n, reason="the fit did not converge")
    conf = fit.conf_int()
    coefficients = []
    for name, estimate in fit.params.items():
        low, high = conf.loc[name]
        values = (float(estimate), float(low), float(high), float(fit.pvalues[name]))
        if not all(math.isfinite(v) for v in values):
            return Coefficients(n=n, reason="perfect separation (infinite estimates)")
        coefficients.append(
            Coefficient(
                term=_term_name(str(name), factors),
                estimate=values[0],
                odds_ratio=math.exp(values[0]),
                ci_low=math.exp(values[1]),
                ci_high=math.exp(values[2]),
                p=values[3],
            )
        )
    return Coefficients(coefficients, n=n)


def _term_name(name: str, factors: Sequence[str]) -> str:
    match = _TERM.match(name)
    if match is None:
        return name
    return f"{factors[int(match.group(1))]}[T.{match.group(2)}]"
