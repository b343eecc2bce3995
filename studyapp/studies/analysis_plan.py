"""The analysis plan as data: what a study's confirmatory analysis will be, written down
before the first participant is allocated. Pure: plain JSON in, checked JSON and digests out.

A plan names its outcomes (each primary or secondary), the contrasts between arms or groups
of arms, the analysis sets, the test rule, alpha, sidedness and the multiplicity method. It
is stored as canonical JSON (sorted keys, no whitespace, UTF-8) whose SHA-256 is the plan's
fingerprint: shown on the study page, in `study_report` and in every export's dictionary.
`studies.services` locks it at the first allocation; a later change is a new version.

The definitions below (`OUTCOMES`, `ANALYSIS_SETS`, the rules) are what the pages and the
data dictionary show, so the words and the computation cannot drift apart.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA = 1

# --- Outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeDefinition:
    key: str
    label: str
    # "binary": a 2x2 table per contrast; "ordinal": Mann-Whitney on the signed distance;
    # "calibration": per-arm Brier/AUROC/reliability, no between-group test.
    kind: str
    definition: str
    # A missing answer of an intention-to-treat participant can count as a failure only
    # for outcomes where success is the good result.
    missing_can_fail: bool = False


OUTCOMES: dict[str, OutcomeDefinition] = {
    o.key: o
    for o in (
        OutcomeDefinition(
            "conditions",
            "Names a relevant condition",
            "binary",
            "The answer names at least one of the scenario's gold conditions (scored by the "
            "study's condition scores: the matcher's, or rater reference labels where the "
            "study chose them).",
            missing_can_fail=True,
        ),
        OutcomeDefinition(
            "disposition",
            "Correct disposition",
            "binary",
            "The level of care chosen is the scenario's gold level exactly.",
            missing_can_fail=True,
        ),
        OutcomeDefinition(
            "red_flag",
            "Names a red flag",
            "binary",
            "The answer names at least one of the scenario's red flags; only scenarios that "
            "list red flags count.",
            missing_can_fail=True,
        ),
        OutcomeDefinition(
            "over_triage",
            "Over-triage",
            "binary",
            "The level chosen is more acute than the gold level (a harm outcome: an odds "
            "ratio above 1 means more over-triage).",
        ),
        OutcomeDefinition(
            "under_triage",
            "Under-triage",
            "binary",
            "The level chosen is less acute than the gold level (a harm outcome).",
        ),
        OutcomeDefinition(
            "acuity_distance",
            "Signed acuity distance",
            "ordinal",
            "Chosen minus gold acuity rank (> 0 over-triage); groups compared by the "
            "Mann-Whitney U test with the common-language effect size f = U / (n1 n2).",
        ),
        OutcomeDefinition(
            "calibration",
            "Confidence calibration",
            "calibration",
            "Per arm: the Brier score of confidence (0-100, read as a probability) for a "
            "correct disposition, the AUROC of confidence for correctness, and a "
            "reliability curve. Descriptive: no between-arm test.",
        ),
    )
}

# --- Analysis sets -----------------------------------------------------------------------

ANALYSIS_SETS: dict[str, str] = {
    "itt": "Intention to treat: every allocated participant (simulated participants never), "
    "each with the scenarios allocated to them; a scenario left unanswered counts as "
    "stated by the plan's `itt_missing`.",
    "per_protocol": "Per protocol: participants who completed the study, passed the check "
    "question where the study has one, and (in an LLM arm) sent at least `min_turns` "
    "messages in the scenario's chat; only their answered scenarios.",
}

ITT_MISSING = {
    "incorrect": "An unanswered scenario counts as not correct for conditions, disposition "
    "and red flags, and is left out of over-/under-triage, acuity distance and calibration "
    "(which only an answer defines).",
    "excluded": "Unanswered scenarios are left out of every outcome (available cases).",
}

TEST_RULE = (
    "Per contrast and binary outcome: the odds ratio (group A's odds over group B's) with a "
    "95% log (Woolf) interval, 0.5 added to every cell when one is zero (Haldane-Anscombe); "
    "the risk difference A - B with Newcombe's hybrid score interval; Pearson's chi-squared "
    "test (1 df, no continuity correction) unless an expected count is below 5, then "
    "Fisher's exact test; both p values are kept and the test used is named."
)
MULTIPLICITY = {
    "holm": "Holm's step-down adjustment within each family: the primary outcomes x "
    "contrasts in the primary analysis set are one family (confirmatory); every other "
    "(analysis set, outcome role) is its own family.",
    "bonferroni": "Bonferroni within each family (as for Holm).",
    "none": "No adjustment (p_adjusted equals p).",
}
ADJUSTED = (
    "GEE logistic regression (exchangeable working correlation, clustered on participant, "
    "scenario as a covariate, robust standard errors) of each binary outcome on group "
    "membership: answers of one participant are correlated and scenarios differ widely. "
    "Chosen over a mixed model because it estimates the population-averaged odds ratio the "
    "unadjusted contrast reports, and it needs no random-effects distribution. When it "
    "cannot be fitted the reason is stated."
)
SENSITIVITY = (
    "A cluster bootstrap of the risk difference, resampling whole participants (n_boot "
    "draws, the stated seed): an interval that does not assume answers are independent."
)

# --- Contrasts ---------------------------------------------------------------------------

# A group is "control" (the control arms), "llm" (every LLM arm pooled), "each_llm" (one
# contrast per LLM arm; only as group A) or a list of arm keys (pooled).
GROUP_WORDS = ("control", "llm", "each_llm")


@dataclass(frozen=True)
class Group:
    name: str
    arm_keys: tuple[str, ...]


@dataclass(frozen=True)
class ResolvedContrast:
    key: str
    label: str
    a: Group
    b: Group
    primary: bool


CONDITION_LABELS = {
    "matcher": "The automatic matcher's score, for every answer.",
    "reference": "An answer's rater reference label (adjudicated, else agreed on) where it "
    "has one, else the matcher's score.",
}


def default_plan(*, condition_labels: str = "matcher") -> dict[str, Any]:
    """HELPMed's analysis (Bean et al.): every LLM arm pooled vs control, and each LLM arm
    vs control; conditions and disposition primary; red flags, triage errors, acuity and
    calibration secondary; intention to treat primary, per protocol as sensitivity."""
    return {
        "schema": SCHEMA,
        "condition_labels": condition_labels,
        "name": "HELPMed (Bean et al.): LLM arms vs control",
        "outcomes": [
            {"key": "conditions", "role": "primary"},
            {"key": "disposition", "role": "primary"},
            {"key": "red_flag", "role": "secondary"},
            {"key": "over_triage", "role": "secondary"},
            {"key": "under_triage", "role": "secondary"},
            {"key": "acuity_distance", "role": "secondary"},
            {"key": "calibration", "role": "secondary"},
        ],
        "contrasts": [
            {
                "key": "llm_pooled_vs_control",
                "label": "All LLM arms pooled vs control",
                "a": "llm",
                "b": "control",
                "primary": True,
            },
            {
                "key": "each_llm_vs_control",
                "label": "Each LLM arm vs control",
                "a": "each_llm",
                "b": "control",
                "primary": False,
            },
        ],
        "primary_analysis_set": "itt",
        "sensitivity_analysis_sets": ["per_protocol"],
        "itt_missing": "incorrect",
        "per_protocol": {"completed": True, "passed_check": True, "min_turns": 1},
        "alpha": 0.05,
        "sidedness": "two-sided",
        "multiplicity": "holm",
        "test_rule": "chi2_or_fisher_below_5",
        "adjusted": "gee_participant_clusters",
        "bootstrap": {"n_boot": 2000, "seed": 20250101},
        "calibration_target": "disposition",
    }


def canonical_json(content: Mapping[str, Any]) -> str:
    """Sorted keys, no whitespace, non-ASCII kept: the same plan always gives the same
    bytes, whatever order its keys were written in."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plan_sha256(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


class PlanError(ValueError):
    """The plan is not valid; `errors` lists every problem in words."""

    def __init__(self, errors: Sequence[str]):
        super().__init__("; ".join(errors))
        self.errors = list(errors)


def _check_group(value: Any, where: str, arm_keys: Sequence[str] | None) -> list[str]:
    if isinstance(value, str):
        if value not in GROUP_WORDS:
            return [
                f"{where}: {value!r} is not one of {', '.join(GROUP_WORDS)} or a list of arm keys"
            ]
        return []
    if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
        return [f"{where}: a group word or a non-empty list of arm keys"]
    if arm_keys is not None:
        unknown = [k for k in value if k not in arm_keys]
        if unknown:
            return [f"{where}: no arm with key {', '.join(unknown)}"]
    return []


def validate(content: Any, *, arm_keys: Sequence[str] | None = None) -> dict[str, Any]:
    """The plan, checked; raises PlanError naming every problem. `arm_keys`: the study's,
    to check contrasts that name arms."""
    if not isinstance(content, dict):
        raise PlanError(["the plan is a JSON object"])
    errors: list[str] = []
    if content.get("schema") != SCHEMA:
        errors.append(f"schema must be {SCHEMA}")
    outcomes = content.get("outcomes")
    if not isinstance(outcomes, list) or not outcomes:
        errors.append("outcomes: a non-empty list of {key, role}")
        outcomes = []
    seen: set[str] = set()
    for i, outcome in enumerate(outcomes):
        if not isinstance(outcome, dict) or outcome.get("key") not in OUTCOMES:
            errors.append(f"outcomes[{i}]: key must be one of {', '.join(OUTCOMES)}")
            continue
        if outcome.get("role") not in ("primary", "secondary"):
            errors.append(f"outcomes[{i}] ({outcome['key']}): role is primary or secondary")
        if outcome["key"] in seen:
            errors.append(f"outcomes: {outcome['key']} is listed twice")
        seen.add(outcome["key"])
    if outcomes and not any(isinstance(o, dict) and o.get("role") == "primary" for o in outcomes):
        errors.append("outcomes: at least one primary outcome")
    contrasts = content.get("contrasts")
    if not isinstance(contrasts, list) or not contrasts:
        errors.append("contrasts: a non-empty list of {key, label, a, b, primary}")
        contrasts = []
    keys: set[str] = set()
    for i, contrast in enumerate(contrasts):
        if not isinstance(contrast, dict):
            errors.append(f"contrasts[{i}]: an object")
            continue
        key = contrast.get("key")
        if not isinstance(key, str) or not key:
            errors.append(f"contrasts[{i}]: a key")
        elif key in keys:
            errors.append(f"contrasts: {key} is listed twice")
        else:
            keys.add(key)
        errors += _check_group(contrast.get("a"), f"contrasts[{i}].a", arm_keys)
        errors += _check_group(contrast.get("b"), f"contrasts[{i}].b", arm_keys)
        if contrast.get("b") == "each_llm":
            errors.append(f"contrasts[{i}].b: each_llm only as group a")
        if not isinstance(contrast.get("primary", False), bool):
            errors.append(f"contrasts[{i}].primary: true or false")
    if contrasts and sum(bool(isinstance(c, dict) and c.get("primary")) for c in contrasts) != 1:
        errors.append("contrasts: exactly one is the primary contrast")
    sets = [content.get("primary_analysis_set"), *(content.get("sensitivity_analysis_sets") or [])]
    if not all(s in ANALYSIS_SETS for s in sets) or len(set(sets)) != len(sets):
        errors.append(
            f"analysis sets: primary_analysis_set and sensitivity_analysis_sets are distinct "
            f"ones of {', '.join(ANALYSIS_SETS)}"
        )
    if content.get("itt_missing") not in ITT_MISSING:
        errors.append(f"itt_missing: one of {', '.join(ITT_MISSING)}")
    pp = content.get("per_protocol")
    if (
        not isinstance(pp, dict)
        or not isinstance(pp.get("completed"), bool)
        or not isinstance(pp.get("passed_check"), bool)
        or not isinstance(pp.get("min_turns"), int)
        or isinstance(pp.get("min_turns"), bool)
        or pp["min_turns"] < 0
    ):
        errors.append("per_protocol: {completed: bool, passed_check: bool, min_turns: >= 0}")
    alpha = content.get("alpha")
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not 0 < alpha < 0.5:
        errors.append("alpha: a number between 0 and 0.5")
    if content.get("sidedness") not in ("two-sided",):
        errors.append("sidedness: two-sided (one-sided tests are not offered)")
    if content.get("multiplicity") not in MULTIPLICITY:
        errors.append(f"multiplicity: one of {', '.join(MULTIPLICITY)}")
    if content.get("test_rule") != "chi2_or_fisher_below_5":
        errors.append("test_rule: chi2_or_fisher_below_5")
    if content.get("adjusted") not in ("gee_participant_clusters", "none"):
        errors.append("adjusted: gee_participant_clusters or none")
    boot = content.get("bootstrap")
    if (
        not isinstance(boot, dict)
        or not isinstance(boot.get("n_boot"), int)
        or not 100 <= boot["n_boot"] <= 20000
        or not isinstance(boot.get("seed"), int)
    ):
        errors.append("bootstrap: {n_boot: 100..20000, seed: a whole number}")
    if content.get("condition_labels") not in CONDITION_LABELS:
        errors.append(f"condition_labels: one of {', '.join(CONDITION_LABELS)}")
    if content.get("calibration_target") not in ("disposition", "conditions"):
        errors.append("calibration_target: disposition or conditions")
    if errors:
        raise PlanError(errors)
    return copy.deepcopy(content)


def outcome_roles(content: Mapping[str, Any]) -> dict[str, str]:
    """{outcome key: "primary"|"secondary"} in the plan's order."""
    return {o["key"]: o["role"] for o in content["outcomes"]}


def analysis_sets(content: Mapping[str, Any]) -> list[str]:
    return [content["primary_analysis_set"], *content.get("sensitivity_analysis_sets", [])]


def resolve_contrasts(
    content: Mapping[str, Any], *, arms: Sequence[tuple[str, str]]
) -> list[ResolvedContrast]:
    """The plan's contrasts over the study's arms ((key, kind) pairs, kind "llm" or
    "control"): group words become arm keys, each_llm one contrast per LLM arm. A contrast
    with an empty side is kept (its figures are empty and say why)."""
    llm = tuple(key for key, kind in arms if kind == "llm")
    control = tuple(key for key, kind in arms if kind == "control")

    def group(value: Any) -> Group:
        if value == "llm":
            return Group("LLM arms pooled" if len(llm) > 1 else "LLM arm", llm)
        if value == "control":
            return Group("Control", control)
        keys = tuple(value)
        return Group(" + ".join(keys), keys)

    out: list[ResolvedContrast] = []
    for contrast in content["contrasts"]:
        b = group(contrast["b"])
        primary = bool(contrast.get("primary"))
        if contrast["a"] == "each_llm":
            for key in llm:
                out.append(
                    ResolvedContrast(
                        key=f"{contrast['key']}:{key}",
                        label=f"{key} vs {b.name.lower()}",
                        a=Group(key, (key,)),
                        b=b,
                        primary=primary,
                    )
                )
            continue
        a = group(contrast["a"])
        out.append(
            ResolvedContrast(
                key=contrast["key"],
                label=contrast.get("label") or f"{a.name} vs {b.name}",
                a=a,
                b=b,
                primary=primary,
            )
        )
    return out
