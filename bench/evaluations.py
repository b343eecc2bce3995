"""Evaluation benchmark: what the job engine adds to the model's own time.

Against the scripted model (MCQ persona, a fixed time per reply, no token delay):

1. Slot overhead. One uncontended acquire + release of ``evaluations.slots.evaluation_slot``
   inside an event loop, many times over: on lock files (always) and on Redis (when
   REDIS_URL is set), side by side. Microseconds.
2. Throughput. An MCQ run of N questions in one chunk, executed in this process
   (``evaluation_start(enqueue=False)`` then ``evaluation_run_inline``), for several values
   of the endpoint's ``evaluation_concurrency`` (its slots) with the chunk's own concurrency
   above them: items/s against the ideal min(limit, concurrency) / reply time, the stored
   items' median duration, and the model server's peak of requests in flight (which must be
   the smaller bound).
3. Shared limit. The same run in two chunks, each in a process of its own, both against one
   endpoint: the peak in flight stays at the endpoint's limit, and the two together still
   reach about the ideal rate.

    .venv/bin/python bench/evaluations.py [--questions 200] [--limits 1,4,16]
                                          [--concurrency 16] [--ttft 0.1]
                                          [--slot-iterations 2000] [--shared-limit 4]
                                          [--out FILE]

Database: a temporary SQLite file, or DATABASE_URL when set (migrated first). The run's
slots are on Redis when REDIS_URL is set, on lock files in a temporary folder otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import setup_django, summary  # noqa: E402

LETTERS = "ABCD"
SLOT_LIMIT = 8  # the model's default evaluation_concurrency; uncontended, it hardly matters


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200, help="MCQ questions per run")
    parser.add_argument("--limits", default="1,4,16", help="endpoint evaluation_concurrency")
    parser.add_argument("--concurrency", type=int, default=16, help="units at once per chunk")
    parser.add_argument("--ttft", type=float, default=0.1, help="model time per reply (s)")
    parser.add_argument("--slot-iterations", type=int, default=2000, help="timed slot cycles")
    parser.add_argument(
        "--shared-limit", type=int, default=4, help="the limit two processes share (0: skip)"
    )
    parser.add_argument(
        "--out", default=None, help="result file (default: bench/results/evaluations-<db>.json)"
    )
    # Internal: one chunk in a process of its own (part 3).
    parser.add_argument("--chunk-worker", nargs=5, metavar=("RUN", "FIRST", "LAST", "READY", "GO"))
    return parser.parse_args()


def write_questions(path: Path, n: int) -> dict[str, str]:
    """n 4-option questions (gold letters cycling A..D); returns the scripted answer key."""
    from studyapp.devtools.scripted_server import options_fingerprint

    key = {}
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            options = {letter: f"option {letter} of question {i}" for letter in LETTERS}
            gold = LETTERS[i % 4]
            row = {"id": f"q{i}", "question": f"Question {i}: which one?", "options": options}
            f.write(json.dumps(row | {"answer_idx": gold}) + "\n")
            key[options_fingerprint(options)] = gold
    return key


def make_study(run_id: str):
    from studyapp.studies.models import Study
    from studyapp.studies.services import disposition_scale_get_or_create_default

    return Study.objects.create(
        slug=f"bench-evaluations-{run_id}",
        title="Evaluation benchmark",
        status=Study.Status.PAUSED,
        disposition_scale=disposition_scale_get_or_create_default(),
        consent_text="Benchmark.",
        instructions_text="Benchmark.",
    )


def make_arm(study, base_url: str, *, key: str, limit: int, concurrency: int):
    """An LLM arm on an endpoint of its own, whose slots are `limit` (chats: never bound)."""
    from studyapp.studies.models import Arm, ModelEndpoint

    endpoint = ModelEndpoint.objects.create(
        name=f"{study.slug}-{key}",
        base_url=base_url,
        model="scripted-demo",
        is_scripted=True,
        timeout_s=30,
        # The chunk's concurrency is capped by this: keep it above the one asked for.
        max_concurrent_streams=max(64, concurrency),
        evaluation_concurrency=limit,
    )
    return Arm.objects.create(
        study=study,
        key=key,
        kind=Arm.Kind.LLM,
        endpoint=endpoint,
        system_prompt="You are a helpful assistant.",
    )


def clear_slots(endpoint_id: int) -> None:
    """Endpoint ids come again with a fresh database; a Redis slot set of an earlier run of
    the same id would hold leases for up to EVALUATION_SLOT_LEASE_S."""
    from django.conf import settings

    from studyapp.evaluations.runtime import slots

    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        client.delete(slots.backend().key(endpoint_id))
        client.close()


def slot_overhead(endpoint_id: int, iterations: int) -> dict:
    """Acquire + release of one free slot, timed one cycle at a time, in one event loop."""
    from studyapp.evaluations.runtime import slots

    clear_slots(endpoint_id)

    async def cycles() -> list[tuple[float, float, float]]:
        timings = []
        try:
            for i in range(iterations + 20):
                started = time.perf_counter()
                async with slots.evaluation_slot(endpoint_id, SLOT_LIMIT):
                    held = time.perf_counter()
                ended = time.perf_counter()
                if i >= 20:  # the first cycles open the connection or make the folder
                    timings.append((started, held, ended))
        finally:
            await slots.close()
        return timings

    timings = asyncio.run(cycles())
    return {
        "acquire_release_us": summary([e - s for s, _, e in timings], scale=1e6),
        "acquire_us": summary([h - s for s, h, _ in timings], scale=1e6),
        "release_us": summary([e - h for _, h, e in timings], scale=1e6),
    }


def slot_rounds(endpoint_id: int, iterations: int, tmp: Path) -> dict:
    from django.conf import settings
    from django.test import override_settings

    rounds = {}
    with override_settings(REDIS_URL="", EVALUATION_SLOT_DIR=tmp / "slot-bench"):
        rounds["file"] = slot_overhead(endpoint_id, iterations)
    if settings.REDIS_URL:
        rounds["redis"] = slot_overhead(endpoint_id, iterations)
    return rounds


def start_run(study, arm, path: Path, *, concurrency: int, chunk_units: int):
    from studyapp.evaluations.services import StartRequest, evaluation_start

    clear_slots(arm.endpoint_id)
    request = StartRequest(
        kind="mcq",
        arm_key=arm.key,
        items_path=path,
        concurrency=concurrency,
        chunk_units=chunk_units,
    )
    return evaluation_start(study=study, request=request, enqueue=False)


def run_figures(run, server, *, wall: float, limit: int, concurrency: int, ttft: float) -> dict:
    """What a finished run shows: rate against the ideal, item durations, peak in flight."""
    from studyapp.evaluations.models import EvaluationItem

    run.refresh_from_db()
    items = EvaluationItem.objects.filter(run=run)
    durations = [
        d / 1000 for d in items.exclude(duration_ms=None).values_list("duration_ms", flat=True)
    ]
    stats = server.stats()
    expected_peak = min(limit, concurrency)
    rate = run.items_done / wall if wall else None
    ideal = expected_peak / ttft
    return {
        "limit": limit,
        "concurrency": concurrency,
        "status": run.status,
        "items_done": run.items_done,
        "items_failed": run.items_failed,
        "correct": items.filter(correct=True).count(),
        "model_requests": stats["count"],
        "wall_s": round(wall, 3),
        "items_per_s": round(rate, 2) if rate else None,
        "ideal_items_per_s": round(ideal, 2),
        "ratio_measured_over_ideal": round(rate / ideal, 3) if rate else None,
        "item_duration_ms": summary(durations),
        "peak_in_flight": stats["peak_in_flight"],
        "expected_peak_in_flight": expected_peak,
        "peak_as_expected": stats["peak_in_flight"] == expected_peak,
    }


def throughput_round(study, server, path: Path, *, limit: int, args) -> dict:
    from studyapp.evaluations.runtime.runner import evaluation_run_inline

    arm = make_arm(
        study, server.base_url, key=f"limit-{limit}", limit=limit, concurrency=args.concurrency
    )
    run = start_run(study, arm, path, concurrency=args.concurrency, chunk_units=args.questions)
    server.reset()
    started = time.monotonic()
    evaluation_run_inline(run_id=run.pk)
    wall = time.monotonic() - started
    return run_figures(
        run, server, wall=wall, limit=limit, concurrency=args.concurrency, ttft=args.ttft
    )


def start_chunk_worker(tmp: Path, n: int, run_id: int, ids: list[int], go: Path):
    log = (tmp / f"chunk-{n}.log").open("wb")
    command = [
        sys.executable, str(Path(__file__).resolve()), "--chunk-worker",
        str(run_id), str(ids[0]), str(ids[-1]), str(tmp / f"ready-{n}"), str(go),
    ]  # fmt: skip
    # The environment setup_django made (database, run folder: the lock files) is inherited.
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_until_ready(tmp: Path, processes: list, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not all((tmp / f"ready-{n}").exists() for n in range(len(processes))):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise RuntimeError(f"a chunk process did not start:\n{chunk_logs(tmp)}")
        time.sleep(0.02)


def chunk_logs(tmp: Path) -> str:
    return "\n".join(p.read_text()[-2000:] for p in sorted(tmp.glob("chunk-*.log")))


def shared_round(study, server, path: Path, *, limit: int, args, tmp: Path) -> dict:
    """The run's two chunks in two processes at once, on one endpoint's slots."""
    arm = make_arm(
        study, server.base_url, key=f"shared-{limit}", limit=limit, concurrency=args.concurrency
    )
    half = (args.questions + 1) // 2
    run = start_run(study, arm, path, concurrency=args.concurrency, chunk_units=half)
    ids = list(run.items.order_by("pk").values_list("pk", flat=True))
    chunks = [ids[:half], ids[half:]]
    go = tmp / "go"
    processes = [start_chunk_worker(tmp, n, run.pk, chunk, go) for n, chunk in enumerate(chunks)]
    try:
        wait_until_ready(tmp, processes)
        server.reset()
        started = time.monotonic()
        go.touch()
        codes = [p.wait(timeout=600) for p in processes]
        wall = time.monotonic() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    if any(codes):
        raise RuntimeError(f"a chunk process failed:\n{chunk_logs(tmp)}")
    figures = run_figures(
        run, server, wall=wall, limit=limit, concurrency=args.concurrency, ttft=args.ttft
    )
    # Each process alone would take min(limit, concurrency): without shared slots, twice.
    return {"processes": 2} | figures


def chunk_worker(run_id: str, first: str, last: str, ready: str, go: str) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyapp.settings")
    import django

    django.setup()
    from studyapp.evaluations.runtime.runner import evaluation_run_chunk

    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    evaluation_run_chunk(run_id=int(run_id), first_id=int(first), last_id=int(last))
    return 0


def main() -> int:
    args = parse_args()
    if args.chunk_worker:
        return chunk_worker(*args.chunk_worker)
    limits = [int(x) for x in args.limits.split(",") if x.strip()]
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="studyapp-bench-eval-"))
    engine = setup_django(tmp)

    from django.conf import settings

    from studyapp.devtools.scripted_server import ScriptedConfig, ScriptedServerThread
    from studyapp.evaluations.runtime.runner import evaluation_run_inline

    path = tmp / "questions.jsonl"
    key = write_questions(path, args.questions)
    server = ScriptedServerThread(
        ScriptedConfig(mode="mcq", mcq_answer_key=key, ttft_s=args.ttft, token_delay_s=0.0)
    ).start()
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
    study = make_study(run_id)
    try:
        slot_arm = make_arm(study, server.base_url, key="slots", limit=SLOT_LIMIT, concurrency=1)
        slot_overheads = slot_rounds(slot_arm.endpoint_id, args.slot_iterations, tmp)
        # One-off costs (the HTTP client's first connection, lazy imports) out of the rounds.
        warm_path = tmp / "warm-up.jsonl"
        write_questions(warm_path, 4)  # the first four questions: the key knows them
        warm_arm = make_arm(study, server.base_url, key="warm-up", limit=4, concurrency=4)
        warm_run = start_run(study, warm_arm, warm_path, concurrency=4, chunk_units=4)
        evaluation_run_inline(run_id=warm_run.pk)
        rounds = [
            throughput_round(study, server, path, limit=limit, args=args) for limit in limits
        ]
        shared = None
        if args.shared_limit:
            shared = shared_round(study, server, path, limit=args.shared_limit, args=args, tmp=tmp)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "benchmark": "evaluations",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "database": engine,
            "slot_backend": "redis" if settings.REDIS_URL else "file",
            "questions": args.questions,
            "limits": limits,
            "chunk_concurrency": args.concurrency,
            "model_reply_s": args.ttft,
            "slot_iterations": args.slot_iterations,
            "slot_limit": SLOT_LIMIT,
            "slot_poll_s": settings.EVALUATION_SLOT_POLL_S,
            "shared_limit": args.shared_limit,
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "slot_overhead": slot_overheads,
        "rounds": rounds,
        "shared": shared,
        "wall_s": round(time.monotonic() - started, 1),
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"evaluations-{engine}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    report(result, out)
    checked = rounds + ([shared] if shared else [])
    bad = any(r["items_failed"] or not r["peak_as_expected"] for r in checked)
    bad = bad or any(r["items_done"] != args.questions for r in checked)
    return 1 if bad else 0


def report(result: dict, out: Path) -> None:
    config = result["config"]
    print(
        f"evaluations benchmark ({config['database']}, slots on {config['slot_backend']}, "
        f"{result['machine']['cpus']} cpus) -> {out}"
    )
    for name, figures in result["slot_overhead"].items():
        s = figures["acquire_release_us"]
        print(
            f"  slot acquire+release, {name}: median {s['median']} us, p95 {s['p95']} us "
            f"(acquire {figures['acquire_us']['median']} us, release "
            f"{figures['release_us']['median']} us)"
        )
    shared = [result["shared"]] if result["shared"] else []
    for r in result["rounds"] + shared:
        label = f"limit {r['limit']:>2}" + (", 2 processes" if r.get("processes") else "")
        print(
            f"  {label}: {r['items_done']} items in {r['wall_s']} s = {r['items_per_s']} "
            f"items/s (ideal {r['ideal_items_per_s']}, ratio {r['ratio_measured_over_ideal']})"
            f" | item duration median {r['item_duration_ms'].get('median')} ms | peak in "
            f"flight {r['peak_in_flight']} (expected {r['expected_peak_in_flight']})"
        )


if __name__ == "__main__":
    sys.exit(main())
