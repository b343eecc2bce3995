"""Reading the audit trail, and checking it."""

from __future__ import annotations

from dataclasses import dataclass

from studyapp.audit import chain as hashchain
from studyapp.audit.models import AuditEntry, ChainHead, chain_for

_READ = ("id", "prev_hash", "hash", *hashchain.HASHED_FIELDS)


@dataclass(frozen=True)
class Verification:
    chain: str
    entries: int
    broken: hashchain.Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def chain_verify(*, chain: str) -> Verification:
    """Recompute a chain's hashes from its stored entries, in order, and compare its end
    with the chain's head (which catches entries deleted from the end)."""
    rows = AuditEntry.objects.filter(chain=chain).order_by("seq").values(*_READ)
    count = 0

    def counted():
        nonlocal count
        for row in rows.iterator(chunk_size=2000):
            count += 1
            yield row

    broken = hashchain.first_broken(counted())
    if broken is None:
        head = ChainHead.objects.filter(chain=chain).values("seq", "last_hash").first()
        last = rows.last() if count else None
        head_seq, head_hash = (head["seq"], head["last_hash"]) if head else (0, hashchain.GENESIS)
        if head_seq != count or head_hash != (last["hash"] if last else hashchain.GENESIS):
            broken = hashchain.Break(
                count + 1, last["id"] if last else 0, f"the chain's head says {head_seq} entries"
            )
    return Verification(chain=chain, entries=count, broken=broken)


def study_verify(*, study) -> Verification:
    return chain_verify(chain=chain_for(study.pk))


def study_entries(*, study):
    return AuditEntry.objects.of_study(study).order_by("-seq")
