"""Which rater rates which item, in which order. Pure and deterministic from the seed.

A round's items are shuffled; the first round(share x n) become double-rated (each goes
to `raters_per_double` distinct raters), the rest go to one rater. Each slot goes to the
least-loaded rater not already on that item (ties broken by a seeded draw), so any two
raters' loads differ by at most one. Each rater then sees their items in an order of
their own (shuffled with the seed and the rater), so no two raters meet the items in the
same order and nothing about an item's source shows in its place in the queue.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AssignmentPlan:
    # rater id -> item ids, in the order the rater will see them
    queues: dict[int, list[int]]
    double: frozenset[int]


def double_count(n_items: int, share: float) -> int:
    """round(share x n), halves up (not Python's round-half-to-even)."""
    return min(n_items, math.floor(share * n_items + 0.5))


def plan_assignments(
    *,
    item_ids: Sequence[int],
    rater_ids: Sequence[int],
    double_share: float,
    seed: int,
    raters_per_double: int = 2,
) -> AssignmentPlan:
    if not 0 <= double_share <= 1:
        raise ValueError("the double-rated share is between 0 and 1")
    if not rater_ids:
        raise ValueError("a round needs at least one rater")
    if len(set(rater_ids)) != len(rater_ids) or len(set(item_ids)) != len(item_ids):
        raise ValueError("item and rater ids must be distinct")
    n_double = double_count(len(item_ids), double_share)
    if n_double and raters_per_double > len(rater_ids):
        raise ValueError(
            f"double rating needs {raters_per_double} raters; the round has {len(rater_ids)}"
        )
    rng = random.Random(seed)
    items = sorted(item_ids)
    rng.shuffle(items)
    double = frozenset(items[:n_double])
    raters = sorted(rater_ids)
    load = dict.fromkeys(raters, 0)
    queues: dict[int, list[int]] = {r: [] for r in raters}
    for item in items:
        slots = raters_per_double if item in double else 1
        tie = {r: rng.random() for r in raters}
        for rater in sorted(raters, key=lambda r: (load[r], tie[r]))[:slots]:
            load[rater] += 1
            queues[rater].append(item)
    for rater, queue in queues.items():
        random.Random(f"{seed}:{rater}").shuffle(queue)
    return AssignmentPlan(queues=queues, double=double)
