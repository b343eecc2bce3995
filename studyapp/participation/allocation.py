"""Allocation sequences: pure functions, no ORM, so they can be tested exhaustively.

A study's allocation sequence is a pure function of its *design* (method, arms and
weights, block sizes, seed) and the stratum: the i-th slot of a stratum is the same
whenever and wherever it is computed. So the sequence is never stored ahead of time
(nothing an investigator could read reveals the next arm: concealment), and the whole
ledger can be regenerated from the seed and checked against what happened.

Randomness comes from SHA-256 over a canonical JSON encoding of
(generator version, seed, stratum, purpose, numbers), turned into unbiased integers by
rejection sampling. Python's `random` is deliberately not used: only its `random()`
method is guaranteed stable across Python versions, not `shuffle` or `randrange`, and an
audit years later (or in R) must reproduce the list bit for bit from this description.

Methods:
- simple: each slot independently, arm i with probability weight_i / sum(weights);
  each slot is recorded as a block of size 1.
- blocks: permuted blocks; each block's size is drawn from the configured sizes (each a
  multiple m of the weight total W) and holds arm i exactly weight_i * m times, in a
  uniformly random order (Fisher-Yates).
- stratified_blocks: the same, with an independent sequence per stratum (the stratum is
  part of every hash input).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

GENERATOR_VERSION = "sha256-v1"


class Method(StrEnum):
    SIMPLE = "simple"
    BLOCKS = "blocks"
    STRATIFIED_BLOCKS = "stratified_blocks"


class DesignError(ValueError):
    """A design that cannot produce a sequence; the message says what to fix."""


def uniform_below(bound: int, *parts: object) -> int:
    """An integer in [0, bound), uniform, determined by `parts` alone.

    64 bits of SHA-256 per try; values in the incomplete top range are rejected (and a
    counter appended), so no arm gains from modulo bias.
    """
    if bound < 1:
        raise ValueError("bound must be positive")
    if bound == 1:
        return 0
    limit = (2**64 // bound) * bound
    for attempt in itertools.count():
        payload = json.dumps([*parts, attempt], separators=(",", ":"), ensure_ascii=True)
        value = int.from_bytes(hashlib.sha256(payload.encode()).digest()[:8], "big")
        if value < limit:
            return value % bound
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Design:
    """Everything the sequence depends on. Frozen at a study's first allocation."""

    method: Method
    # (arm key, weight), sorted by key: the order is part of the design.
    arms: tuple[tuple[str, int], ...]
    block_sizes: tuple[int, ...]
    seed: int
    version: str = GENERATOR_VERSION
    _cumulative: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", Method(self.method))
        object.__setattr__(self, "arms", tuple(sorted((str(k), int(w)) for k, w in self.arms)))
        object.__setattr__(self, "block_sizes", tuple(int(s) for s in self.block_sizes))
        object.__setattr__(
            self, "_cumulative", tuple(itertools.accumulate(w for _, w in self.arms))
        )
        problems = design_problems(self)
        if problems:
            raise DesignError("; ".join(problems))

    @property
    def weight_total(self) -> int:
        return sum(w for _, w in self.arms)

    @property
    def arm_keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.arms)

    @property
    def is_stratified(self) -> bool:
        return self.method == Method.STRATIFIED_BLOCKS

    def as_dict(self) -> dict:
        return {
            "method": str(self.method),
            "arms": [[k, w] for k, w in self.arms],
            "block_sizes": list(self.block_sizes),
            "seed": self.seed,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Design:
        return cls(
            method=Method(data["method"]),
            arms=tuple((str(k), int(w)) for k, w in data["arms"]),
            block_sizes=tuple(data.get("block_sizes") or ()),
            seed=int(data["seed"]),
            version=str(data.get("version", GENERATOR_VERSION)),
        )


def default_block_sizes(weight_total: int) -> tuple[int, ...]:
    """One or two copies of the weights: small blocks keep arms balanced throughout,
    and a random choice between two sizes keeps the end of a block hard to predict."""
    return (weight_total, 2 * weight_total)


def design_for(
    *,
    method: str,
    arms: Iterable[tuple[str, int]],
    block_sizes: Sequence[int],
    seed: int,
) -> Design:
    """The design a study's settings describe (empty block sizes: the defaults)."""
    arms = tuple(arms)
    total = sum(w for _, w in arms)
    sizes = tuple(block_sizes) or (default_block_sizes(total) if total > 0 else ())
    if Method(method) == Method.SIMPLE:
        sizes = ()
    return Design(method=Method(method), arms=arms, block_sizes=sizes, seed=seed)


def design_problems(design: Design) -> list[str]:
    problems = []
    if design.version != GENERATOR_VERSION:
        problems.append(f"unknown generator version {design.version!r}")
    if not design.arms:
        problems.append("a study needs at least one arm")
    keys = [k for k, _ in design.arms]
    if len(set(keys)) != len(keys):
        problems.append("arm keys must be distinct")
    if any(w < 1 for _, w in design.arms):
        problems.append("every arm weight must be at least 1")
    if design.method != Method.SIMPLE:
        total = sum(w for _, w in design.arms)
        if not design.block_sizes:
            problems.append("block randomisation needs at least one block size")
        for size in design.block_sizes:
            if size < 1 or (total > 0 and size % total):
                problems.append(
                    f"block size {size} is not a positive multiple of the arm weight total {total}"
                )
    return problems


@dataclass(frozen=True)
class Slot:
    """One position of a stratum's sequence."""

    stratum_sequence: int  # 1-based position within the stratum
    block: int  # 1-based block number within the stratum
    block_size: int
    position: int  # 1-based position within the block
    arm: str


def _stream_stratum(design: Design, stratum: str) -> str:
    # Unstratified designs have one sequence, whatever stratum a participant reports.
    return stratum if design.is_stratified else ""


def block_size(design: Design, stratum: str, block: int) -> int:
    if design.method == Method.SIMPLE:
        return 1
    sizes = design.block_sizes
    s = _stream_stratum(design, stratum)
    index = uniform_below(len(sizes), design.version, design.seed, s, "size", block)
    return sizes[index]


@functools.lru_cache(maxsize=1024)
def block_arms(design: Design, stratum: str, block: int) -> tuple[str, ...]:
    """The arms of one block, in allocation order."""
    s = _stream_stratum(design, stratum)
    if design.method == Method.SIMPLE:
        draw = uniform_below(design.weight_total, design.version, design.seed, s, "simple", block)
        return (design.arms[bisect.bisect_right(design._cumulative, draw)][0],)
    size = block_size(design, stratum, block)
    copies = size // design.weight_total
    arms = [key for key, weight in design.arms for _ in range(weight * copies)]
    # Fisher-Yates, each swap index drawn from the hash stream.
    for i in range(len(arms) - 1, 0, -1):
        j = uniform_below(i + 1, design.version, design.seed, s, "perm", block, i)
        arms[i], arms[j] = arms[j], arms[i]
    return tuple(arms)


def next_slot(design: Design, stratum: str, previous: Slot | None) -> Slot:
    """The slot after `previous` in this stratum's sequence (the first when None).

    Only the previous slot is needed, not the whole history: the ledger's last row of the
    stratum says where the sequence stands.
    """
    if previous is None:
        block, position, sequence = 1, 1, 1
    else:
        sequence = previous.stratum_sequence + 1
        if previous.position < previous.block_size:
            block, position = previous.block, previous.position + 1
        else:
            block, position = previous.block + 1, 1
    arms = block_arms(design, stratum, block)
    return Slot(
        stratum_sequence=sequence,
        block=block,
        block_size=len(arms),
        position=position,
        arm=arms[position - 1],
    )


def iter_slots(design: Design, stratum: str) -> Iterator[Slot]:
    """The stratum's sequence, from the first slot, without end."""
    slot = None
    while True:
        slot = next_slot(design, stratum, slot)
        yield slot


def slots(design: Design, stratum: str, n: int) -> list[Slot]:
    return list(itertools.islice(iter_slots(design, stratum), n))


# --- Checks a statistician asks for ---------------------------------------------------


def unbalanced_blocks(design: Design, allocated: Iterable[Slot]) -> list[int]:
    """Blocks that are complete but do not hold each arm exactly weight x m times."""
    if design.method == Method.SIMPLE:
        return []
    by_block: dict[int, list[Slot]] = {}
    for slot in allocated:
        by_block.setdefault(slot.block, []).append(slot)
    weights = dict(design.arms)
    bad = []
    for block, members in sorted(by_block.items()):
        size = members[0].block_size
        if len(members) < size:
            continue
        copies = size // design.weight_total
        counts = dict.fromkeys(weights, 0)
        for slot in members:
            counts[slot.arm] = counts.get(slot.arm, 0) + 1
        if len(members) != size or any(counts[k] != weights[k] * copies for k in weights):
            bad.append(block)
    return bad


def imbalance(counts: Mapping[str, int], weights: Mapping[str, int]) -> float:
    """Spread of arm sizes in units of weight: max(n_a / w_a) - min(n_a / w_a).

    For equal weights this is the difference between the largest and smallest arm.
    """
    ratios = [counts.get(key, 0) / weight for key, weight in weights.items()]
    return max(ratios) - min(ratios) if ratios else 0.0


def largest_imbalance(arms_in_order: Iterable[str], weights: Mapping[str, int]) -> float:
    """The worst `imbalance` over every prefix of an allocation sequence."""
    counts = dict.fromkeys(weights, 0)
    worst = 0.0
    for arm in arms_in_order:
        counts[arm] += 1
        worst = max(worst, imbalance(counts, weights))
    return worst
