"""Multi-turn robustness (MedQA-Followup): templates, prompts and metrics. Pure.

Templates are data (``data/followup_templates.json``, or a file the investigator passes);
a run stores the templates it used in its config, so results stay tied to the wording.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TEMPLATES_PATH = Path(__file__).resolve().parent / "data" / "followup_templates.json"
DEPTHS = ("shallow", "deep", "compounding")


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
        if spec.get("intent") not in ("direct", "indirect"):
            raise TemplateError(f"intervention {key!r}: intent must be direct or indirect")
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
    """One question under one intervention: the answer at each turn (turn 0 = unperturbed)."""

    question_id: str
    intervention: str
    depth: str
    gold: str
    answers: tuple[str | None, ...]

    @property
    def correct(self) -> tuple[bool, ...]:
        return tuple(answer == self.gold for answer in self.answers)


@dataclass
class ProbeMetrics:
    depth: str
    intervention: str
    n: int
    accuracy_per_turn: list[float]
    change_pp: float
    flips_correct_to_incorrect: int
    flips_incorrect_to_correct: int
    flip_rate: float
    trajectories: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "intervention": self.intervention,
            "n": self.n,
            "accuracy_per_turn": self.accuracy_per_turn,
            "change_pp": self.change_pp,
            "flips_correct_to_incorrect": self.flips_correct_to_incorrect,
            "flips_incorrect_to_correct": self.flips_incorrect_to_correct,
            "flip_rate": self.flip_rate,
            "trajectories": self.trajectories,
        }


def probe_metrics(probes: Sequence[Probe]) -> ProbeMetrics:
    """Metrics of probes that share a depth and an intervention (same number of turns)."""
    if not probes:
        raise ValueError("no probes")
    turns = min(len(p.answers) for p in probes)
    n = len(probes)
    accuracy = [sum(p.correct[t] for p in probes) / n for t in range(turns)]
    c_to_i = sum(1 for p in probes if p.correct[0] and not p.correct[turns - 1])
    i_to_c = sum(1 for p in probes if not p.correct[0] and p.correct[turns - 1])
    changed = sum(1 for p in probes if p.answers[0] != p.answers[turns - 1])
    trajectories = Counter("".join("C" if ok else "I" for ok in p.correct[:turns]) for p in probes)
    return ProbeMetrics(
        depth=probes[0].depth,
        intervention=probes[0].intervention,
        n=n,
        accuracy_per_turn=accuracy,
        change_pp=round((accuracy[-1] - accuracy[0]) * 100, 2),
        flips_correct_to_incorrect=c_to_i,
        flips_incorrect_to_correct=i_to_c,
        flip_rate=changed / n,
        trajectories=dict(sorted(trajectories.items())),
    )


def robustness_table(probes: Sequence[Probe]) -> list[ProbeMetrics]:
    """One row per (depth, intervention), in template order of first appearance."""
    groups: dict[tuple[str, str], list[Probe]] = {}
    for probe in probes:
        groups.setdefault((probe.depth, probe.intervention), []).append(probe)
    return [probe_metrics(group) for group in groups.values()]


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
