"""Multi-turn robustness (MedQA-Followup): templates, prompts and metrics. Pure.

Templates are data (``data/followup_templates.json``, or a file the investigator passes);
a run stores the templates it used in its config, so results stay tied to the wording.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TEMPLATES_PATH = Path(__file__).resolve().parent / "data" / "followup_templates.json"
DEPTHS = ("shallow", "deep", "compounding")
# "control": a neutral follow-up (no misinformation) whose flip rate is the baseline that the
# other interventions are reported net of.
CONTROL = "control"
INTENTS = ("direct", "indirect", CONTROL)


class TemplateError(ValueError):
    """The templates file is unusable; the message says why."""


def load_templates(path: Path | None = None) -> dict[str, Any]:
    path = path or DEFAULT_TEMPLATES_PATH
    try:
        templates = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    validate_templates(templates)
    return templates


def validate_templates(templates: Mapping[str, Any]) -> None:
    interventions = templates.get("interventions")
    if not isinstance(templates.get("instruction"), str) or not isinstance(interventions, dict):
        raise TemplateError("templates need an 'instruction' and an 'interventions' object")
    for key, spec in interventions.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("text"), str):
            raise TemplateError(f"intervention {key!r} needs a 'text'")
        if spec.get("intent") not in INTENTS:
            raise TemplateError(
                f"intervention {key!r}: intent must be one of {', '.join(INTENTS)}"
            )
        if spec["intent"] == "direct" and "{letter}" not in spec["text"]:
            raise TemplateError(f"direct intervention {key!r} must name '({{letter}})'")
    for key, sequence in (templates.get("compounding") or {}).items():
        unknown = [s for s in sequence if s not in interventions]
        if unknown or not sequence:
            raise TemplateError(f"compounding {key!r}: unknown steps {unknown}")


def format_question(question: str, options: Mapping[str, str]) -> str:
    lines = [question.strip(), ""]
    lines += [f"({letter}) {options[letter]}" for letter in sorted(options)]
    return "\n".join(lines)


def first_prompt(
    *, instruction: str, question: str, options: Mapping[str, str], intervention: str = ""
) -> str:
    """The first user message; a shallow intervention sits in it, after the options."""
    parts = [instruction, "", format_question(question, options)]
    if intervention:
        parts += ["", intervention]
    return "\n".join(parts)


def wrong_letter(*, gold: str, letters: Sequence[str], seed: str) -> str:
    """A wrong option drawn uniformly from the incorrect ones (seeded, reproducible)."""
    wrong = sorted(letter for letter in letters if letter != gold)
    return random.Random(seed).choice(wrong)


def compounding_letter(*, gold: str, letters: Sequence[str], seed: str) -> str:
    """The one wrong option a compounding sequence pushes at every step.

    Drawn once per question, uniformly from the incorrect options (MedQA-Followup draws its
    suggested letters that way), from the run's seed. It is not conditioned on the model's
    first answer: the plan is made before anything is asked, and the published protocol
    does not exclude it either.
    """
    return wrong_letter(gold=gold, letters=letters, seed=f"{seed}:compounding")


def intervention_text(
    spec: Mapping[str, Any], *, letter: str, options: Mapping[str, str], context: str = ""
) -> str:
    return spec["text"].format(letter=letter, option=options.get(letter, ""), context=context)


def applicable(spec: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    """Context interventions run only when the item provides their passage."""
    need = spec.get("needs")
    return not need or bool(item.get(need))


# --- metrics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One question under one intervention: the answer at each turn it reached (turn 0 =
    unperturbed). A chain that stopped short (a turn failed or is not asked yet) keeps the
    answers it has; ``planned_turns`` says how many it should have had, turn 0 included."""

    question_id: str
    intervention: str
    depth: str
    gold: str
    answers: tuple[str | None, ...]
    planned_turns: int = 0
    # Why the chain stopped short ("failed", "pending"); "" when it is complete.
    stopped: str = ""
    item_key: str = ""

    @property
    def correct(self) -> tuple[bool, ...]:
        return tuple(answer == self.gold for answer in self.answers)

    @property
    def turns(self) -> int:
        return max(self.planned_turns, len(self.answers))

    @property
    def complete(self) -> bool:
        return len(self.answers) >= self.turns


def wilson_ci(k: int, n: int) -> tuple[float, float] | None:
    """The Wilson 95% interval of k successes in n (statsmodels), None without data."""
    if not n:
        return None
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return (float(low), float(high))


def mcnemar_exact_p(table: Sequence[Sequence[int]]) -> float | None:
    """McNemar's exact test (statsmodels) of a paired 2x2 table [[CC, CI], [IC, II]]."""
    if not sum(map(sum, table)):
        return None
    from statsmodels.stats.contingency_tables import mcnemar

    return float(mcnemar([list(row) for row in table], exact=True).pvalue)


def difference_ci(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float] | None:
    """Newcombe's hybrid score 95% interval of k1/n1 - k2/n2 (statsmodels)."""
    if not (n1 and n2):
        return None
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(
        k1, n1, k2, n2, method="newcomb", compare="diff", alpha=0.05
    )
    return (float(low), float(high))


@dataclass
class ProbeMetrics:
    """A group's metrics. Per-turn accuracy counts the chains that reached the turn
    (``n_per_turn``); the paired figures (flips, flip rate, change, McNemar) compare the first
    and the last turn of the ``n`` complete chains. Incomplete chains are listed, not dropped
    silently."""

    depth: str
    intervention: str
    n: int
    accuracy_per_turn: list[float | None]
    change_pp: float | None
    flips_correct_to_incorrect: int
    flips_incorrect_to_correct: int
    flip_rate: float | None
    trajectories: dict[str, int] = field(default_factory=dict)
    n_per_turn: list[int] = field(default_factory=list)
    planned: int = 0
    incomplete_items: list[dict[str, Any]] = field(default_factory=list)
    flips: int = 0
    flip_rate_ci: tuple[float, float] | None = None
    # [[correct -> correct, correct -> incorrect], [incorrect -> correct, incorrect -> incorrect]]
    paired_table: list[list[int]] = field(default_factory=lambda: [[0, 0], [0, 0]])
    mcnemar_p: float | None = None
    is_control: bool = False
    control_flips: int | None = None
    control_n: int | None = None
    control_flip_rate: float | None = None
    net_flip_rate: float | None = None
    net_flip_rate_ci: tuple[float, float] | None = None

    @property
    def incomplete(self) -> int:
        return len(self.incomplete_items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "intervention": self.intervention,
            "n": self.n,
            "planned": self.planned,
            "incomplete": self.incomplete,
            "incomplete_items": self.incomplete_items,
            "n_per_turn": self.n_per_turn,
            "accuracy_per_turn": self.accuracy_per_turn,
            "change_pp": self.change_pp,
            "flips_correct_to_incorrect": self.flips_correct_to_incorrect,
            "flips_incorrect_to_correct": self.flips_incorrect_to_correct,
            "flips": self.flips,
            "flip_rate": self.flip_rate,
            "flip_rate_ci": list(self.flip_rate_ci) if self.flip_rate_ci else None,
            "paired_table": self.paired_table,
            "mcnemar_p": self.mcnemar_p,
            "trajectories": self.trajectories,
            "is_control": self.is_control,
            "control_flips": self.control_flips,
            "control_n": self.control_n,
            "control_flip_rate": self.control_flip_rate,
            "net_flip_rate": self.net_flip_rate,
            "net_flip_rate_ci": list(self.net_flip_rate_ci) if self.net_flip_rate_ci else None,
        }


def probe_metrics(probes: Sequence[Probe]) -> ProbeMetrics:
    """Metrics of probes that share a depth and an intervention."""
    if not probes:
        raise ValueError("no probes")
    turns = max(p.turns for p in probes)
    n_per_turn = [sum(1 for p in probes if len(p.answers) > t) for t in range(turns)]
    accuracy = [
        sum(p.correct[t] for p in probes if len(p.answers) > t) / k if k else None
        for t, k in enumerate(n_per_turn)
    ]
    done = [p for p in probes if p.complete and p.answers]
    n = len(done)
    table = [[0, 0], [0, 0]]
    for p in done:
        table[0 if p.correct[0] else 1][0 if p.correct[-1] else 1] += 1
    c_to_i, i_to_c = table[0][1], table[1][0]
    changed = sum(1 for p in done if p.answers[0] != p.answers[-1])
    trajectories = Counter("".join("C" if ok else "I" for ok in p.correct) for p in done)
    incomplete = [
        {
            "question": p.question_id,
            "item_key": p.item_key,
            "turns_reached": len(p.answers),
            "turns_planned": p.turns,
            "why": p.stopped or "missing",
        }
        for p in probes
        if not (p.complete and p.answers)
    ]
    return ProbeMetrics(
        depth=probes[0].depth,
        intervention=probes[0].intervention,
        n=n,
        accuracy_per_turn=accuracy,
        # Paired over the complete chains, so it is the net of the two flip directions.
        change_pp=round((i_to_c - c_to_i) / n * 100, 2) if n else None,
        flips_correct_to_incorrect=c_to_i,
        flips_incorrect_to_correct=i_to_c,
        flip_rate=changed / n if n else None,
        trajectories=dict(sorted(trajectories.items())),
        n_per_turn=n_per_turn,
        planned=len(probes),
        incomplete_items=sorted(incomplete, key=lambda r: (r["question"], r["item_key"])),
        flips=changed,
        flip_rate_ci=wilson_ci(changed, n),
        paired_table=table,
        mcnemar_p=mcnemar_exact_p(table),
    )


def net_of_controls(rows: Sequence[ProbeMetrics]) -> None:
    """Each intervention's flip rate net of its depth's neutral controls (in place).

    The controls of a depth are pooled (their flips over their complete chains: the mean of
    their flip rates weighted by n, the plain mean when they share the questions). The
    difference gets Newcombe's hybrid score interval, which treats the two samples as
    independent: the same questions sit in both, so it is an approximation.
    """
    pooled: dict[str, list[int]] = {}
    for row in rows:
        if row.is_control:
            k_n = pooled.setdefault(row.depth, [0, 0])
            k_n[0] += row.flips
            k_n[1] += row.n
    for row in rows:
        k, n = pooled.get(row.depth, (0, 0))
        if row.is_control or not n:
            continue
        row.control_flips, row.control_n, row.control_flip_rate = k, n, k / n
        if row.n:
            row.net_flip_rate = round(row.flips / row.n - k / n, 6)
            row.net_flip_rate_ci = difference_ci(row.flips, row.n, k, n)


def robustness_table(
    probes: Sequence[Probe], *, controls: Collection[tuple[str, str]] = ()
) -> list[ProbeMetrics]:
    """One row per (depth, intervention), in order of first appearance; ``controls`` names
    the (depth, intervention) groups that are neutral controls."""
    groups: dict[tuple[str, str], list[Probe]] = {}
    for probe in probes:
        groups.setdefault((probe.depth, probe.intervention), []).append(probe)
    rows = []
    for key, group in groups.items():
        row = probe_metrics(group)
        row.is_control = key in controls
        rows.append(row)
    net_of_controls(rows)
    return rows


def read_leaderboard(path: Path) -> list[dict[str, Any]]:
    """The published MedQA-Followup leaderboard (accuracy change and flip rate per model)."""
    import csv

    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [
        {
            "followup": row["followup"],
            "model": row["model"],
            "change_pp": float(row["accuracy_change_pp_vs_first_turn"]),
            "flip_rate_pct": float(row["flip_rate_pct"]),
        }
        for row in rows
    ]
