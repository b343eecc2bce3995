"""Choosing an arm: pure functions, no ORM, so they can be tested exhaustively.

This is simple weighted randomisation for the walking skeleton; the allocation issue
replaces it with block/stratified randomisation and a ledger.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence


def choose_arm(weights: Sequence[int], rng: random.Random) -> int:
    """The index of the chosen arm, each drawn with probability weight / sum(weights).

    Integer arithmetic (randrange over the total) keeps the draw exact: no float rounding
    can shift probability between arms or pick an index past the end.
    """
    if not weights:
        raise ValueError("choose_arm needs at least one weight")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    total = sum(weights)
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    draw = rng.randrange(total)
    # bisect_right skips zero-weight arms: their cumulative bound equals the previous one.
    return bisect.bisect_right(list(itertools.accumulate(weights)), draw)
