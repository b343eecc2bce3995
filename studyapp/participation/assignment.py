"""Which scenarios a participant gets, and whether an arm can take anyone more (pure).

Cells are arm x scenario key (versions of a scenario are one cell). Counts are the
responses that count toward quotas: tasks of participants who began and are in progress
or completed (and timed out, when the study counts them), so someone who consents and
stops takes nobody's place, and a refill happens simply because a timed-out participant
stops counting. Balance counts add the participants allocated moments ago who have not
begun yet, so that people consenting together are spread over the cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from studyapp.participation.allocation import uniform_below


@dataclass(frozen=True)
class Quotas:
    per_arm: int | None = None  # responses per arm
    per_cell: int | None = None  # responses per arm x scenario


def open_scenarios(
    scenario_keys: Sequence[str], cell_counts: Mapping[str, int], quotas: Quotas
) -> list[str]:
    """The arm's scenarios that can take one more response."""
    if quotas.per_cell is None:
        return list(scenario_keys)
    return [key for key in scenario_keys if cell_counts.get(key, 0) < quotas.per_cell]


def arm_is_open(
    *,
    scenario_keys: Sequence[str],
    cell_counts: Mapping[str, int],
    k: int,
    quotas: Quotas,
) -> bool:
    """Whether one more participant (k responses) fits this arm without passing a quota."""
    if quotas.per_arm is not None and sum(cell_counts.values()) + k > quotas.per_arm:
        return False
    return len(open_scenarios(scenario_keys, cell_counts, quotas)) >= k


def open_arms(
    *,
    arm_keys: Sequence[str],
    scenario_keys: Sequence[str],
    counts: Mapping[tuple[str, str], int],
    k: int,
    quotas: Quotas,
) -> list[str]:
    """Arms that can take one more participant; none left means the study is full."""
    by_arm = cell_counts_by_arm(counts)
    return [
        arm
        for arm in arm_keys
        if arm_is_open(
            scenario_keys=scenario_keys, cell_counts=by_arm.get(arm, {}), k=k, quotas=quotas
        )
    ]


def cell_counts_by_arm(counts: Mapping[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    by_arm: dict[str, dict[str, int]] = {}
    for (arm, scenario), n in counts.items():
        by_arm.setdefault(arm, {})[scenario] = n
    return by_arm


def choose_scenarios(
    *,
    scenario_keys: Sequence[str],
    cell_counts: Mapping[str, int],
    k: int,
    quotas: Quotas,
    seed: int,
    salt: object,
    balance_counts: Mapping[str, int] | None = None,
) -> list[str] | None:
    """k distinct scenarios for one participant of an arm, in the order to do them.

    Open cells are those under quota by `cell_counts`; among them the least filled by
    `balance_counts` (default: `cell_counts`) first, so each arm's cells never drift more
    than one response apart while nobody drops out; ties and the order are drawn from the
    seed (with `salt`, e.g. the ledger sequence number, so each participant's draw is its
    own and reproducible). None when fewer than k cells are open.
    """
    candidates = sorted(open_scenarios(scenario_keys, cell_counts, quotas))
    if k < 1 or len(candidates) < k:
        return None
    balance = cell_counts if balance_counts is None else balance_counts
    tiebreak = {key: uniform_below(2**32, "scenario-tie", seed, salt, key) for key in candidates}
    chosen = sorted(candidates, key=lambda key: (balance.get(key, 0), tiebreak[key]))[:k]
    # Randomised order: a seeded Fisher-Yates over the chosen scenarios (sorted first so
    # the result does not depend on how ties fell).
    order = sorted(chosen)
    for i in range(len(order) - 1, 0, -1):
        j = uniform_below(i + 1, "scenario-order", seed, salt, i)
        order[i], order[j] = order[j], order[i]
    return order
