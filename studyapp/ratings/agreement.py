"""Agreement between raters, and between the automatic matcher and the raters. Pure.

The statistics come from maintained libraries; this module shapes the inputs, adds
confidence intervals and says what happens at the edges (no data, or no variation: the
value is None, never an exception or a NaN):

- Cohen's kappa for two raters: statsmodels `cohens_kappa`, with its asymptotic 95% CI
  (kappa ± 1.96 x the large-sample standard error, `kappa_low`/`kappa_upp`).
- Fleiss' kappa for units rated by k ≥ 2 raters, whoever they are: statsmodels
  `fleiss_kappa` on the units x categories count table. It needs the same k for every
  unit, so it uses the units with the commonest k (the round's raters per double-rated
  item) and says how many.
- Krippendorff's alpha: the `krippendorff` package, any number of raters per unit, nominal
  or ordinal. Every label here is binary (named / not named, met / not met), so the
  alpha reported is nominal; ordinal applies to no label yet.
- The matcher against reference labels (adjudicated, else the raters' consensus):
  precision and recall with Wilson 95% CIs (statsmodels `proportion_confint`), Cohen's
  kappa with a bootstrap CI.

Bootstrap CIs (Fleiss, alpha, the matcher's kappa) are percentile intervals over
`resamples` resamples (1,000 unless told) of the rated *items*, drawn with numpy's
`default_rng(seed)`: the units of one item (its gold terms, its rubric lines) are not
independent, so they are resampled together. Resamples where the statistic is undefined
(every unit the same value) are dropped; the interval is None when more than half are.

Each of these statistics is a function of sums over units (Fleiss: the count table's
column sums and each unit's agreement; alpha: the coincidence matrix; kappa: the 2x2
table), so a resample is the items' sums weighted by how often it drew each item, and all
resamples are one matrix product. Calling the libraries once per resample cost seconds
per figure on a few hundred items (0.8 s a gold term, about 2 s pooled), too slow for a
page with a row per gold term; the resample statistics are the libraries' formulas,
checked against the libraries on resampled data in tests/ratings/test_agreement.py, and
every point estimate is the library's own.

A unit is `(group, {rater: value})`: group is the item, value an int category (0/1 here).
"""

from __future__ import annotations

import itertools
import warnings
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import krippendorff
import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
BINARY = (0, 1)

Unit = tuple[Hashable, Mapping[Hashable, int]]


@dataclass(frozen=True)
class Estimate:
    """A statistic with its 95% CI; value None when undefined (no data, no variation)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    # Units it was computed on (rated units, or the denominator of a proportion).
    n: int = 0
    method: str = ""

    def as_dict(self) -> dict:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "method": self.method,
        }


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _quiet(fn: Callable[[], float]) -> float | None:
    # The libraries divide 0 by 0 (and warn) when every unit has the same value.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return _finite(fn())
        except (ValueError, ZeroDivisionError):
            return None


def _resampled_sums(
    groups: Sequence[Hashable], unit_stats: np.ndarray, *, resamples: int, seed: int
) -> np.ndarray | None:
    """(resamples x stats) sums of `unit_stats` rows over resamples of the groups, drawn
    with replacement; None when there are fewer than two groups to resample."""
    order = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    n_groups = len(order)
    if n_groups < 2 or resamples <= 0:
        return None
    index = np.array([order[g] for g in groups])
    per_group = np.zeros((n_groups, unit_stats.shape[1]))
    np.add.at(per_group, index, unit_stats)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_groups, size=(resamples, n_groups))
    offsets = picks + np.arange(resamples)[:, None] * n_groups
    counts = np.bincount(offsets.ravel(), minlength=resamples * n_groups)
    return counts.reshape(resamples, n_groups) @ per_group


def _percentile_ci(values: np.ndarray) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if len(finite) * 2 < len(values) or not len(finite):
        return None, None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def _bootstrap_method(resamples: int, seed: int) -> str:
    return f"bootstrap over items ({resamples} resamples, seed {seed}), percentile 95% CI"


# --- Between raters --------------------------------------------------------------------


def cohens_kappa(pairs: Sequence[tuple[int, int]], *, categories=BINARY) -> Estimate:
    """Cohen's kappa of two raters over units both rated: `pairs` = (rater A, rater B)."""
    if not pairs:
        return Estimate(None, method="Cohen's kappa")
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    for a, b in pairs:
        table[index[a], index[b]] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = sm_cohens_kappa(table)
    value = _finite(result.kappa)
    low = _finite(result.kappa_low) if value is not None else None
    high = _finite(result.kappa_upp) if value is not None else None
    return Estimate(
        value,
        low,
        high,
        n=len(pairs),
        method="Cohen's kappa (statsmodels), asymptotic 95% CI",
    )


def cohens_kappa_by_pair(
    units: Sequence[Unit], *, categories=BINARY
) -> dict[tuple[Hashable, Hashable], Estimate]:
    """Cohen's kappa for every pair of raters who rated units in common."""
    pairs: dict[tuple[Hashable, Hashable], list[tuple[int, int]]] = {}
    for _group, ratings in units:
        for a, b in itertools.combinations(sorted(ratings, key=str), 2):
            pairs.setdefault((a, b), []).append((ratings[a], ratings[b]))
    return {
        pair: cohens_kappa(values, categories=categories) for pair, values in sorted(pairs.items())
    }


def _rated_by_k(units: Sequence[Unit]) -> tuple[int, list[Unit]]:
    counts = Counter(len(r) for _g, r in units if len(r) >= 2)
    if not counts:
        return 0, []
    # The commonest k; ties go to the larger k (more raters per unit).
    k = max(counts, key=lambda n: (counts[n], n))
    return k, [u for u in units if len(u[1]) == k]


def fleiss_kappa(
    units: Sequence[Unit],
    *,
    categories=BINARY,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Estimate:
    """Fleiss' kappa over the units rated by the commonest number k ≥ 2 of raters."""
    k, used = _rated_by_k(units)
    method = f"Fleiss' kappa (statsmodels), units rated by {k} raters; " + _bootstrap_method(
        resamples, seed
    )
    if not used:
        return Estimate(None, n=0, method="Fleiss' kappa (statsmodels)")
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(used), len(categories)))
    for row, (_group, ratings) in enumerate(used):
        for value in ratings.values():
            table[row, index[value]] += 1

    value = _quiet(lambda: sm_fleiss_kappa(table, method="fleiss"))
    low = high = None
    if value is not None:
        # Per unit: its counts per category and its agreement P_i (Fleiss 1971).
        agreement_i = ((table**2).sum(axis=1) - k) / (k * (k - 1))
        stats = np.column_stack([np.ones(len(used)), agreement_i, table])
        sums = _resampled_sums([g for g, _r in used], stats, resamples=resamples, seed=seed)
        if sums is not None:
            low, high = _percentile_ci(_fleiss_from_sums(sums, k))
    return Estimate(value, low, high, n=len(used), method=method)


def _fleiss_from_sums(sums: np.ndarray, k: int) -> np.ndarray:
    """Fleiss' kappa from (units, sum of P_i, category totals) rows; NaN if undefined."""
    units, agreement_sum, totals = sums[:, 0], sums[:, 1], sums[:, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = agreement_sum / units
        chance = ((totals / (units * k)[:, None]) ** 2).sum(axis=1)
        return (observed - chance) / (1 - chance)


def krippendorff_alpha(
    units: Sequence[Unit],
    *,
    level: str = "nominal",
    value_domain=BINARY,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Estimate:
    """Krippendorff's alpha (the krippendorff package) over units rated at least twice."""
    used = [u for u in units if len(u[1]) >= 2]
    method = f"Krippendorff's alpha, {level} (krippendorff); " + _bootstrap_method(resamples, seed)
    if not used:
        return Estimate(None, n=0, method=f"Krippendorff's alpha, {level} (krippendorff)")
    raters = sorted({r for _g, ratings in used for r in ratings}, key=str)
    row_of = {r: i for i, r in enumerate(raters)}
    data = np.full((len(raters), len(used)), np.nan)
    for column, (_group, ratings) in enumerate(used):
        for rater, value in ratings.items():
            data[row_of[rater], column] = value
    domain = list(value_domain)
    value = _quiet(
        lambda: krippendorff.alpha(
            reliability_data=data, level_of_measurement=level, value_domain=domain
        )
    )
    low = high = None
    if value is not None:
        # Per unit: its contribution to the coincidence matrix (Krippendorff 2011, 2.).
        at = {v: i for i, v in enumerate(domain)}
        counts = np.zeros((len(used), len(domain)))
        for row, (_group, ratings) in enumerate(used):
            for v in ratings.values():
                counts[row, at[v]] += 1
        pairable = counts.sum(axis=1)
        coincidences = (
            counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(len(domain))
        ) / (pairable - 1)[:, None, None]
        sums = _resampled_sums(
            [g for g, _r in used],
            coincidences.reshape(len(used), -1),
            resamples=resamples,
            seed=seed,
        )
        if sums is not None:
            matrices = sums.reshape(-1, len(domain), len(domain))
            low, high = _percentile_ci(_alpha_from_coincidences(matrices, domain, level))
    return Estimate(value, low, high, n=len(used), method=method)


def _alpha_from_coincidences(matrices: np.ndarray, domain: list, level: str) -> np.ndarray:
    """Krippendorff's alpha of each coincidence matrix; NaN where undefined."""
    out = np.full(len(matrices), np.nan)
    for b, o in enumerate(matrices):
        marginals = o.sum(axis=1)
        n = marginals.sum()
        delta = _delta(marginals, domain, level)
        expected = (np.outer(marginals, marginals) - np.diag(marginals)) * delta
        with np.errstate(divide="ignore", invalid="ignore"):
            out[b] = 1 - (n - 1) * (o * delta).sum() / expected.sum()
    return out


def _delta(marginals: np.ndarray, domain: list, level: str) -> np.ndarray:
    """The squared difference function of the level of measurement."""
    size = len(domain)
    if level == "nominal":
        return 1 - np.eye(size)
    if level == "ordinal":
        cumulative = np.cumsum(marginals)
        delta = np.zeros((size, size))
        for c in range(size):
            for k in range(c + 1, size):
                between = cumulative[k] - (cumulative[c - 1] if c else 0)
                delta[c, k] = delta[k, c] = (between - (marginals[c] + marginals[k]) / 2) ** 2
        return delta
    if level == "interval":
        values = np.asarray(domain, dtype=float)
        return (values[:, None] - values[None, :]) ** 2
    raise ValueError(f"unknown level of measurement {level!r}")


@dataclass(frozen=True)
class RaterAgreement:
    """Everything between raters for one label (or all labels pooled)."""

    units: int  # units rated at least twice
    observed: float | None  # share of those units on which every rater agreed
    fleiss: Estimate
    alpha: Estimate
    cohen_pairs: dict[tuple[Hashable, Hashable], Estimate]

    @property
    def cohen(self) -> Estimate | None:
        """Cohen's kappa when one pair of raters rated every unit rated twice or more."""
        if len(self.cohen_pairs) == 1:
            (estimate,) = self.cohen_pairs.values()
            return estimate
        return None


def rater_agreement(
    units: Sequence[Unit], *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> RaterAgreement:
    multi = [u for u in units if len(u[1]) >= 2]
    agreed = sum(1 for _g, r in multi if len(set(r.values())) == 1)
    return RaterAgreement(
        units=len(multi),
        observed=agreed / len(multi) if multi else None,
        fleiss=fleiss_kappa(multi, resamples=resamples, seed=seed),
        alpha=krippendorff_alpha(multi, resamples=resamples, seed=seed),
        cohen_pairs=cohens_kappa_by_pair(multi),
    )


# --- The matcher against reference labels ----------------------------------------------


def _kappa_from_cells(cells: np.ndarray) -> np.ndarray:
    """Cohen's kappa of each (tp, fp, fn, tn) row; NaN where undefined."""
    tp, fp, fn, tn = cells.T
    n = cells.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = (tp + tn) / n
        chance = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / n**2
        return (observed - chance) / (1 - chance)


def wilson(successes: int, n: int) -> Estimate:
    if n <= 0:
        return Estimate(None, n=0, method="Wilson 95% CI")
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    value = successes / n
    return Estimate(
        value, min(float(low), value), max(float(high), value), n=n, method="Wilson 95% CI"
    )


@dataclass(frozen=True)
class MatcherAgreement:
    n: int
    tp: int  # the matcher and the reference both say named
    fp: int  # the matcher says named, the reference not
    fn: int  # the reference says named, the matcher not
    tn: int
    precision: Estimate
    recall: Estimate
    kappa: Estimate

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": self.precision.as_dict(),
            "recall": self.recall.as_dict(),
            "kappa": self.kappa.as_dict(),
        }


def matcher_agreement(
    units: Sequence[tuple[Hashable, bool, bool]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> MatcherAgreement:
    """`units`: (item, the matcher says named, the reference says named)."""
    cells = np.zeros((len(units), 4), dtype=int)  # tp, fp, fn, tn per unit
    for row, (_group, matcher, reference) in enumerate(units):
        cells[row, (0 if reference else 1) if matcher else (2 if reference else 3)] = 1
    tp, fp, fn, tn = (int(x) for x in cells.sum(axis=0))

    # Rows: the reference (named, not); columns: the matcher (named, not).
    table = np.array([[tp, fn], [fp, tn]], dtype=float)
    kappa = _quiet(lambda: sm_cohens_kappa(table, return_results=False)) if units else None
    low = high = None
    if kappa is not None:
        sums = _resampled_sums(
            [g for g, _m, _r in units], cells.astype(float), resamples=resamples, seed=seed
        )
        if sums is not None:
            low, high = _percentile_ci(_kappa_from_cells(sums))
    return MatcherAgreement(
        n=len(units),
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        precision=wilson(tp, tp + fp),
        recall=wilson(tp, tp + fn),
        kappa=Estimate(
            kappa,
            low,
            high,
            n=len(units),
            method="Cohen's kappa (statsmodels); " + _bootstrap_method(resamples, seed),
        ),
    )
