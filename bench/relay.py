"""Relay benchmark: how much the chat path adds to what the model itself takes.

Starts the scripted model (in this process) and the real ASGI app under uvicorn (a
subprocess), enrols participants through the ORM, opens N WebSocket clients that each send
one message, and compares what the clients saw (send -> first delta frame, gaps between
delta frames) with what the model server recorded (request -> first token, gaps between
tokens). Both sides read the same monotonic clock, so the first-token relay lag (model
emitted it -> browser received it) is measured directly.

    .venv/bin/python bench/relay.py [--concurrency 1,50] [--tokens 60] [--ttft 0.3]
                                   [--token-delay 0.03] [--out FILE]

Database: a temporary SQLite file, or DATABASE_URL when set (migrated first).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, percentile, setup_django, start_uvicorn, summary  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,50", help="comma-separated client counts")
    parser.add_argument("--tokens", type=int, default=60, help="tokens per reply")
    parser.add_argument("--ttft", type=float, default=0.3, help="model time to first token (s)")
    parser.add_argument("--token-delay", type=float, default=0.03, help="model inter-token (s)")
    parser.add_argument(
        "--out",
        default=None,
        help="result file (default: bench/results/relay-<database engine>.json)",
    )
    return parser.parse_args()


def enrol(base_url: str, count: int, run_id: str) -> list[dict]:
    """A study with one scripted LLM arm and `count` participants, each with an active task
    and a session that holds their token (as a browser that opened their link would)."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from studyapp.participation.access import session_bind_participant
    from studyapp.participation.models import Participant, Task
    from studyapp.studies.models import Arm, ModelEndpoint, Scenario, Study
    from studyapp.studies.services import disposition_scale_get_or_create_default

    scale = disposition_scale_get_or_create_default()
    study = Study.objects.create(
        slug=f"bench-{run_id}",
        title="Relay benchmark",
        status=Study.Status.LIVE,
        disposition_scale=scale,
        consent_text="Benchmark.",
        instructions_text="Benchmark.",
    )
    scenario = Scenario.objects.create(
        study=study,
        key="bench",
        title="Benchmark scenario",
        sections=[{"heading": "Case", "text": "You are playing the part of a benchmark."}],
        gold_disposition=scale.levels.get(code="self_care"),
        gold_conditions=["none"],
    )
    endpoint = ModelEndpoint.objects.create(
        name=f"bench-scripted-{run_id}",
        base_url=base_url,
        model="scripted-demo",
        is_scripted=True,
        timeout_s=30,
        max_concurrent_streams=256,
    )
    arm = Arm.objects.create(
        study=study,
        key="llm",
        kind=Arm.Kind.LLM,
        endpoint=endpoint,
        system_prompt="You are a helpful assistant.",
        sampling_params={"temperature": 0.8, "top_p": 0.9, "max_tokens": 256},
    )
    clients = []
    for _ in range(count):
        # Consented, allocated and past the instructions: the chat socket accepts them.
        participant = Participant.objects.create(
            study=study,
            arm=arm,
            status=Participant.Status.CONSENTED,
            instructions_read_at=timezone.now(),
        )
        Task.objects.create(
            participant=participant,
            scenario=scenario,
            position=1,
            status=Task.Status.ACTIVE,
            started_at=timezone.now(),
        )
        session = SessionStore()
        session_bind_participant(session, participant)
        session.save()
        clients.append({"token": participant.token, "session_key": session.session_key})
    return clients


async def one_client(port: int, client: dict, marker: str, text: str, barrier) -> dict:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws/p/{client['token']}/tasks/1/chat/"
    async with connect(
        url,
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"sessionid={client['session_key']}"},
        proxy=None,
        open_timeout=30,
    ) as ws:
        history = json.loads(await ws.recv())
        assert history["type"] == "history", history
        await barrier.wait()
        sent_at = time.monotonic()
        await ws.send(json.dumps({"type": "send", "client_id": marker, "text": text}))
        record: dict = {"marker": marker, "sent_at": sent_at, "delta_times": [], "chars": 0}
        async with asyncio.timeout(60):
            while True:
                frame = json.loads(await ws.recv())
                now = time.monotonic()
                if frame["type"] == "ack":
                    record["ack_at"] = now
                elif frame["type"] == "start":
                    record["start_at"] = now
                elif frame["type"] == "delta":
                    record["delta_times"].append(now)
                    record["chars"] += len(frame["html"])
                elif frame["type"] == "end":
                    record["end_at"] = now
                    record["status"] = frame["status"]
                    break
                elif frame["type"] == "error":
                    record["status"] = f"error:{frame['code']}"
                    break
        return record


async def run_round(port: int, clients: list[dict], tokens: int, round_id: str) -> list[dict]:
    barrier = asyncio.Barrier(len(clients))
    jobs = []
    for i, client in enumerate(clients):
        marker = f"{round_id}-{i}"
        text = f"benchmark message {marker} #long:{tokens}"
        jobs.append(one_client(port, client, marker, text, barrier))
    return await asyncio.gather(*jobs, return_exceptions=True)


def analyse(records: list, server_requests: list[dict], concurrency: int, tokens: int) -> dict:
    by_marker = {}
    for request in server_requests:
        messages = request.get("messages") or []
        if messages:
            words = messages[-1]["content"].split()
            if len(words) > 2:
                by_marker[words[2]] = request
    failures = [r for r in records if isinstance(r, BaseException)]
    ok = [r for r in records if isinstance(r, dict) and r.get("status") == "complete"]
    client_ttft, server_ttft, relay_lag, ratios = [], [], [], []
    client_gaps, server_gaps, last_token_lag = [], [], []
    frames_per_reply, ack = [], []
    for r in ok:
        request = by_marker.get(r["marker"])
        if request is None or not r["delta_times"] or not request["token_times"]:
            continue
        c_ttft = r["delta_times"][0] - r["sent_at"]
        s_ttft = request["first_token_at"] - request["started_at"]
        client_ttft.append(c_ttft)
        server_ttft.append(s_ttft)
        ratios.append(c_ttft / s_ttft)
        relay_lag.append(r["delta_times"][0] - request["first_token_at"])
        last_token_lag.append(r["delta_times"][-1] - request["token_times"][-1])
        ack.append(r["ack_at"] - r["sent_at"])
        times = r["delta_times"]
        client_gaps += [b - a for a, b in itertools.pairwise(times)]
        stimes = request["token_times"]
        server_gaps += [b - a for a, b in itertools.pairwise(stimes)]
        frames_per_reply.append(len(times))
    c_gap = statistics.median(client_gaps) if client_gaps else None
    s_gap = statistics.median(server_gaps) if server_gaps else None
    return {
        "concurrency": concurrency,
        "completed": len(ok),
        "failed": len(records) - len(ok),
        "failures": [repr(f)[:200] for f in failures][:5],
        "matched_to_server": len(client_ttft),
        "client_ttft_ms": summary(client_ttft),
        "server_ttft_ms": summary(server_ttft),
        "ttft_ratio_client_over_server": {
            "median": round(statistics.median(ratios), 3) if ratios else None,
            "p95": round(percentile(ratios, 0.95), 3) if ratios else None,
        },
        "ttft_overhead_ms": summary(
            [c - s for c, s in zip(client_ttft, server_ttft, strict=True)]
        ),
        "first_token_relay_lag_ms": summary(relay_lag),
        "last_token_relay_lag_ms": summary(last_token_lag),
        "ack_ms": summary(ack),
        "client_inter_frame_gap_ms": summary(client_gaps),
        "server_inter_token_gap_ms": summary(server_gaps),
        "gap_ratio_client_over_server_median": (
            round(c_gap / s_gap, 3) if c_gap and s_gap else None
        ),
        "frames_per_reply": summary(frames_per_reply, scale=1.0),
        "tokens_per_reply": tokens,
    }


def main() -> int:
    args = parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="studyapp-bench-"))
    engine = setup_django(tmp)

    from django.conf import settings

    from studyapp.devtools.scripted_server import ScriptedConfig, ScriptedServerThread

    model = ScriptedServerThread(
        ScriptedConfig(ttft_s=args.ttft, token_delay_s=args.token_delay, record_messages=True)
    ).start()
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
    clients = enrol(model.base_url, sum(levels) + 1, run_id)
    port = free_port()
    uvicorn = start_uvicorn(port, tmp)
    rounds = []
    try:
        # The first turn in a worker pays one-off costs (TLS trust store, lazy SDK imports,
        # ~80 ms): measured apart, so the rounds show the steady state.
        model.reset()
        records = asyncio.run(run_round(port, clients[:1], args.tokens, "warmup"))
        cold = analyse(records, model.requests(), 1, args.tokens)
        offset = 1
        for level in levels:
            model.reset()
            group = clients[offset : offset + level]
            offset += level
            records = asyncio.run(run_round(port, group, args.tokens, f"c{level}"))
            rounds.append(analyse(records, model.requests(), level, args.tokens))
    finally:
        uvicorn.terminate()
        try:
            uvicorn.wait(timeout=10)
        except subprocess.TimeoutExpired:
            uvicorn.kill()
        model.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "benchmark": "relay",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "model_ttft_s": args.ttft,
            "model_token_delay_s": args.token_delay,
            "tokens_per_reply": args.tokens,
            "frame_interval_s": settings.CHAT_FRAME_INTERVAL_S,
            "concurrency": levels,
            "database": engine,
            "server": "uvicorn (1 worker, subprocess)",
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "cold_first_turn": {
            "client_ttft_ms": cold["client_ttft_ms"].get("median"),
            "server_ttft_ms": cold["server_ttft_ms"].get("median"),
        },
        "rounds": rounds,
        "wall_s": round(time.monotonic() - started, 1),
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"relay-{engine}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"relay benchmark ({engine}, {os.cpu_count()} cpus) -> {out}")
    cold_turn = result["cold_first_turn"]
    print(
        f"  cold first turn of the worker: TTFT client {cold_turn['client_ttft_ms']} ms "
        f"vs model {cold_turn['server_ttft_ms']} ms"
    )
    for r in rounds:
        print(
            f"  c={r['concurrency']:>3}: {r['completed']} ok, {r['failed']} failed | "
            f"TTFT client {r['client_ttft_ms'].get('median')} ms "
            f"(p95 {r['client_ttft_ms'].get('p95')}) vs model {r['server_ttft_ms'].get('median')}"
            f" ms, ratio {r['ttft_ratio_client_over_server']['median']} | "
            f"first-token relay lag {r['first_token_relay_lag_ms'].get('median')} ms "
            f"(p95 {r['first_token_relay_lag_ms'].get('p95')}) | "
            f"gaps client {r['client_inter_frame_gap_ms'].get('median')} ms vs model "
            f"{r['server_inter_token_gap_ms'].get('median')} ms"
        )
    failed = any(r["failed"] for r in rounds)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
