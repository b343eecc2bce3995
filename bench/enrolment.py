"""Enrolment benchmark: allocation balance over seeded simulations, and enrolment
throughput through real HTTP.

1. Balance. For several designs, 1,000 simulated participants go through the real
   consent service (allocation under the row lock, ledger, tasks); the largest arm
   imbalance seen at any point (max - min of n_arm / weight, over every prefix of the
   sequence, overall and within each stratum) is reported, the ledger is checked with
   verify_allocation, and the service's latency per consent is timed.
2. Throughput. uvicorn with two worker processes serves the app; N participants
   (C at a time, each with its own cookie jar) open the entry link, press "Start" and
   "I agree" (the link's page GET, entry POST + redirect, consent POST + redirect).
   Reported: enrolments per second, the consent request's latency, and the ledger checks
   (one allocation each, no gaps).

    .venv/bin/python bench/enrolment.py [--simulated 1000] [--http 400] [--concurrency 40]
                                        [--out FILE]

Database: a temporary SQLite file, or DATABASE_URL when set (migrated first).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, setup_django, start_uvicorn, summary  # noqa: E402

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

DESIGNS = [
    {
        "name": "permuted blocks {4, 8}, 1:1",
        "method": "blocks",
        "arms": [("llm", 1), ("control", 1)],
        "block_sizes": [4, 8],
        "strata": [],
    },
    {
        "name": "stratified permuted blocks {4, 8}, 2:1:1, 3 strata",
        "method": "stratified_blocks",
        "arms": [("a", 2), ("b", 1), ("c", 1)],
        "block_sizes": [4, 8],
        "strata": ["uk", "us", "other"],
    },
    {
        "name": "permuted blocks {4, 8}, 1:1:1:1",
        "method": "blocks",
        "arms": [("a", 1), ("b", 1), ("c", 1), ("d", 1)],
        "block_sizes": [4, 8],
        "strata": [],
    },
    {
        "name": "simple randomisation, 1:1 (for contrast)",
        "method": "simple",
        "arms": [("llm", 1), ("control", 1)],
        "block_sizes": [],
        "strata": [],
    },
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulated", type=int, default=1000, help="participants per design")
    parser.add_argument("--http", type=int, default=400, help="participants through HTTP")
    parser.add_argument("--concurrency", type=int, default=40, help="HTTP clients at a time")
    parser.add_argument("--seed", type=int, default=20261125, help="allocation seed")
    parser.add_argument(
        "--out", default=None, help="result file (default: bench/results/enrolment-<db>.json)"
    )
    return parser.parse_args()


def make_study(slug: str, design: dict, *, seed: int, status: str, **extra):
    from studyapp.studies.models import Arm, Scenario, Study
    from studyapp.studies.services import disposition_scale_get_or_create_default

    scale = disposition_scale_get_or_create_default()
    study = Study.objects.create(
        slug=slug,
        title=f"Enrolment benchmark: {design['name']}",
        status=status,
        disposition_scale=scale,
        consent_text="Benchmark.",
        instructions_text="Benchmark.",
        scenarios_per_participant=2,
        allocation_method=design["method"],
        allocation_block_sizes=design["block_sizes"],
        allocation_seed=seed,
        **extra,
    )
    level = scale.levels.get(code="self_care")
    for i in range(1, 5):
        Scenario.objects.create(
            study=study,
            key=f"s{i}",
            title=f"Scenario {i}",
            sections=[{"heading": "Case", "text": "You are playing the part of a benchmark."}],
            gold_disposition=level,
            gold_conditions=["none"],
        )
    for key, weight in design["arms"]:
        Arm.objects.create(study=study, key=key, kind=Arm.Kind.CONTROL, weight=weight)
    return study


def balance_round(design: dict, n: int, seed: int, run_id: str, index: int) -> dict:
    """n simulated consents through the service; imbalance, latency, verification."""
    from studyapp.participation.allocation import imbalance
    from studyapp.participation.models import Allocation, Participant
    from studyapp.participation.services import participant_consent
    from studyapp.participation.transitions import participant_record_entry
    from studyapp.participation.verification import study_verify_allocation
    from studyapp.studies.models import Study

    study = make_study(f"bench-balance-{run_id}-{index}", design, seed=seed, status="paused")
    rng = random.Random(seed)
    latencies = []
    for i in range(n):
        stratum = rng.choice(design["strata"]) if design["strata"] else ""
        participant = Participant.objects.create(
            study=study, prolific_pid=f"sim-{i}", stratum=stratum
        )
        participant_record_entry(participant=participant)
        started = time.perf_counter()
        participant_consent(participant_id=participant.pk)
        latencies.append(time.perf_counter() - started)

    weights = dict(design["arms"])
    rows = list(
        Allocation.objects.filter(study=study, outcome="assigned")
        .order_by("sequence")
        .values_list("stratum", "arm__key")
    )
    overall: Counter = Counter()
    per_stratum: dict[str, Counter] = {}
    worst_overall = worst_stratum = 0.0
    for stratum, arm in rows:
        overall[arm] += 1
        per_stratum.setdefault(stratum, Counter())[arm] += 1
        worst_overall = max(worst_overall, imbalance(overall, weights))
        worst_stratum = max(worst_stratum, imbalance(per_stratum[stratum], weights))
    verification = study_verify_allocation(study=Study.objects.get(pk=study.pk))
    return {
        "design": design["name"],
        "participants": n,
        "allocated": len(rows),
        "final_counts": dict(sorted(overall.items())),
        "final_imbalance": imbalance(overall, weights),
        "largest_imbalance_overall": worst_overall,
        "largest_imbalance_within_a_stratum": worst_stratum,
        "verify_allocation": "OK" if verification.ok else f"MISMATCH: {verification.problem}",
        "consent_service_latency_ms": summary(latencies),
    }


async def one_enrolment(base: str, slug: str, pid: str, site: str, gate) -> dict:
    import aiohttp

    async with (
        gate,
        aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=120),
        ) as session,
    ):
        started = time.monotonic()
        params = {"PROLIFIC_PID": pid, "STUDY_ID": "bench", "SESSION_ID": pid, "site": site}
        # The link's page (it enrols nobody), then its Start button, which POSTs them back.
        async with session.get(f"{base}/s/{slug}/", params=params) as r:
            start = CSRF_RE.search(await r.text())
        if start is None:
            return {"ok": False, "why": f"start page {r.status}"}
        data = {"csrfmiddlewaretoken": start.group(1), **params}
        async with session.post(f"{base}/s/{slug}/", data=data) as r:
            page = await r.text()
            home = str(r.url)
            entry_status = r.status
        entered = time.monotonic()
        match = CSRF_RE.search(page)
        if match is None:
            return {"ok": False, "why": f"entry {entry_status}"}
        data = {"csrfmiddlewaretoken": match.group(1), "agree": "1"}
        async with session.post(f"{home}consent", data=data) as r:
            after = await r.text()
            ok = r.status == 200 and "Start the first scenario" in after
        done = time.monotonic()
        return {
            "ok": ok,
            "why": "" if ok else f"consent {r.status}",
            "entry_s": entered - started,
            "consent_s": done - entered,
            "total_s": done - started,
        }


async def stampede(
    base: str, slug: str, n: int, concurrency: int, prefix: str = "http"
) -> tuple[list[dict], float]:
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    results = await asyncio.gather(
        *(
            one_enrolment(base, slug, f"{prefix}-{i:05d}", ("north", "south")[i % 2], gate)
            for i in range(n)
        ),
        return_exceptions=True,
    )
    return [r if isinstance(r, dict) else {"ok": False, "why": repr(r)[:200]} for r in results], (
        time.monotonic() - started
    )


def http_round(n: int, concurrency: int, seed: int, run_id: str, tmp: Path) -> dict:
    from studyapp.participation.models import Allocation, Participant
    from studyapp.participation.verification import study_verify_allocation

    design = DESIGNS[1] | {"strata": ["north", "south"]}
    study = make_study(
        f"bench-http-{run_id}",
        design,
        seed=seed,
        status="live",
        stratum_parameter="site",
        stratum_values=["north", "south"],
    )
    port = free_port()
    server = start_uvicorn(
        port,
        tmp,
        workers=2,
        # Every simulated participant comes from this machine's one address: the entry and
        # consent rate limits (there to stop bots) would refuse most of them.
        env=os.environ
        | {
            "DJANGO_DEBUG": "1",
            "LOG_LEVEL": "WARNING",
            "PARTICIPANT_ENTRY_PER_IP": "0",
            "PARTICIPANT_ENTRY_PER_STUDY": "0",
            "PARTICIPANT_CONSENT_PER_IP": "0",
            "PARTICIPANT_CONSENT_PER_STUDY": "0",
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Warm both workers (imports, first connections) before timing; the warm-up
        # participants are ordinary ledger rows.
        asyncio.run(stampede(base, study.slug, 8, 8, prefix="warm-up"))
        results, wall = asyncio.run(stampede(base, study.slug, n, concurrency))
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    ok = [r for r in results if r["ok"]]
    rows = list(Allocation.objects.filter(study=study).order_by("sequence"))
    participants = Participant.objects.filter(study=study).count()
    per_participant = Counter(r.participant_id for r in rows)
    verification = study_verify_allocation(study=study)
    return {
        "design": design["name"].replace("3 strata", "2 strata"),
        "server": "uvicorn --workers 2 (subprocess)",
        "participants": n,
        "concurrency": concurrency,
        "succeeded": len(ok),
        "failed": len(results) - len(ok),
        "failures": sorted({r["why"] for r in results if not r["ok"]})[:5],
        "wall_s": round(wall, 2),
        "enrolments_per_s": round(len(ok) / wall, 1) if wall else None,
        "requests_per_s": round(4 * len(ok) / wall, 1) if wall else None,
        "entry_latency_ms": summary([r["entry_s"] for r in ok]),
        "consent_latency_ms": summary([r["consent_s"] for r in ok]),
        "enrolment_latency_ms": summary([r["total_s"] for r in ok]),
        "ledger_rows": len(rows),  # includes the 8 warm-up participants
        "participants_in_db": participants,
        "one_allocation_each": bool(rows) and max(per_participant.values()) == 1,
        "every_participant_allocated": len(rows) == participants == n + 8,
        "gap_free": [r.sequence for r in rows] == list(range(1, len(rows) + 1)),
        "verify_allocation": "OK" if verification.ok else f"MISMATCH: {verification.problem}",
    }


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="studyapp-bench-enrol-"))
    engine = setup_django(tmp)
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
    try:
        balance = [
            balance_round(design, args.simulated, args.seed, run_id, i)
            for i, design in enumerate(DESIGNS)
        ]
        http = http_round(args.http, args.concurrency, args.seed, run_id, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    blocked = [b for b in balance if "simple" not in b["design"]]
    result = {
        "benchmark": "enrolment",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "database": engine,
            "simulated_per_design": args.simulated,
            "http_participants": args.http,
            "http_concurrency": args.concurrency,
            "seed": args.seed,
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "largest_imbalance_with_blocks": max(
            max(b["largest_imbalance_overall"], b["largest_imbalance_within_a_stratum"])
            for b in blocked
        ),
        "balance": balance,
        "http": http,
        "wall_s": round(time.monotonic() - started, 1),
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"enrolment-{engine}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"enrolment benchmark ({engine}, {os.cpu_count()} cpus) -> {out}")
    for b in balance:
        print(
            f"  {b['design']}: {b['allocated']}/{b['participants']} allocated, final "
            f"{b['final_counts']}, largest imbalance {b['largest_imbalance_overall']:g} overall"
            f" / {b['largest_imbalance_within_a_stratum']:g} within a stratum; "
            f"verify_allocation {b['verify_allocation']}; consent service "
            f"{b['consent_service_latency_ms'].get('median')} ms median"
        )
    print(
        f"  HTTP, {http['server']}: {http['succeeded']}/{http['participants']} enrolled at "
        f"concurrency {http['concurrency']} in {http['wall_s']} s = "
        f"{http['enrolments_per_s']} enrolments/s ({http['requests_per_s']} requests/s); "
        f"consent p50 {http['consent_latency_ms'].get('median')} ms, p95 "
        f"{http['consent_latency_ms'].get('p95')} ms; one allocation each "
        f"{http['one_allocation_each']}, gap-free {http['gap_free']}, verify_allocation "
        f"{http['verify_allocation']}"
    )
    bad = http["failed"] or not http["gap_free"] or not http["one_allocation_each"]
    bad = bad or not http["every_participant_allocated"]
    bad = bad or any(b["verify_allocation"] != "OK" for b in balance)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
