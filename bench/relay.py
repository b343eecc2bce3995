"""Relay benchmark: how much the chat path adds to what the model itself takes.

Starts the scripted model (in this process) and the real ASGI app under uvicorn (a
subprocess), enrols participants through the ORM, opens N WebSocket clients that each send
one message, and compares what the clients saw (send -> first delta frame, gaps between
delta frames) with what the model server recorded (request -> first token, gaps between
tokens). Both sides read the same monotonic clock, so the first-token relay lag (model
emitted it -> browser received it) is measured directly.

The benchmark carries its own floor: beside studyapp it serves bench/floor_relay.py (a raw
ASGI WebSocket app with no Django: the same frames, the same database writes in four plain
statements, one shared OpenAI client, the same delta framing) under the same uvicorn
options, and drives both with the same client code, alternately, `--repetitions` times per
concurrency level. It reports the added time to first token (client TTFT minus the model's
own TTFT) of each, and the ratio studyapp / floor.

studyapp runs with production settings (DJANGO_DEBUG off, a throwaway secret key) unless
--dev is given.

    .venv/bin/python bench/relay.py [--concurrency 1,50] [--repetitions 3] [--tokens 60]
                                   [--ttft 0.3] [--token-delay 0.03] [--long-streams N]
                                   [--cpu-streams N] [--dev] [--out FILE]

--cpu-streams N measures what relaying costs the server process itself: N replies of
--cpu-tokens tokens stream at once, at the model's pace (one token per frame, the costliest
case), then N of a fifth of that length, and the server's CPU time (user + system, from
/proc) over each round is divided by its turns; studyapp and the floor alternately,
`--repetitions` times. Per token: the long round's CPU over its tokens; marginal: the slope
between the two lengths (the inverse is the tokens per second one process could relay
with a whole CPU to itself); fixed: what a turn costs besides its tokens.

Database: a temporary SQLite file, or DATABASE_URL when set (migrated first). The floor
writes its own tables (bench_floor_*) in the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    UVICORN_OPTIONS,
    free_port,
    percentile,
    setup_django,
    start_uvicorn,
    summary,
)

TARGETS = ("studyapp", "floor")
FLOOR_APP = "bench.floor_relay:app"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,50", help="comma-separated client counts")
    parser.add_argument("--tokens", type=int, default=60, help="tokens per reply")
    parser.add_argument("--ttft", type=float, default=0.3, help="model time to first token (s)")
    parser.add_argument("--token-delay", type=float, default=0.03, help="model inter-token (s)")
    parser.add_argument(
        "--repetitions",
        type=int,
        default=3,
        help="rounds per concurrency level for studyapp and for the floor, interleaved",
    )
    parser.add_argument(
        "--min-turns",
        type=int,
        default=20,
        help="at least this many turns per concurrency level and target (more repetitions "
        "for small levels: 5 single turns made a median that one scheduling hiccup moved)",
    )
    parser.add_argument(
        "--long-streams",
        type=int,
        default=0,
        help="also: N long replies streaming while a new turn is sent (0: skip)",
    )
    parser.add_argument(
        "--long-tokens", type=int, default=250, help="tokens of each long reply (max 256)"
    )
    parser.add_argument(
        "--cpu-streams",
        type=int,
        default=0,
        help="also: the server's CPU time per relayed token over N streams at once (0: skip)",
    )
    parser.add_argument(
        "--cpu-tokens", type=int, default=250, help="tokens of each of those replies (max 256)"
    )
    parser.add_argument(
        "--dev",
        action="store_true",
        help="run studyapp with the development settings (DJANGO_DEBUG=1)",
    )
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


async def one_client(
    port: int,
    client: dict,
    marker: str,
    text: str,
    barrier,
    first_delta: asyncio.Event | None = None,
) -> dict:
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
                    if first_delta is not None:
                        first_delta.set()
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


async def run_long(
    port: int,
    long_clients: list[dict],
    probe: dict,
    *,
    long_tokens: int,
    tokens: int,
    tag: str,
) -> tuple[dict | BaseException, list]:
    """N long replies streaming, then a new turn (the probe) on another socket."""
    started = [asyncio.Event() for _ in long_clients]
    barrier = asyncio.Barrier(len(long_clients))
    jobs = [
        asyncio.create_task(
            one_client(
                port,
                client,
                f"{tag}-long{i}",
                f"benchmark message {tag}-long{i} #long:{long_tokens}",
                barrier,
                first_delta=started[i],
            )
        )
        for i, client in enumerate(long_clients)
    ]
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(event.wait() for event in started))
        await asyncio.sleep(0.5)  # every stream in full flow
        marker = f"{tag}-probe"
        probe_record = await one_client(
            port, probe, marker, f"benchmark message {marker} #long:{tokens}", asyncio.Barrier(1)
        )
    except Exception as exc:  # reported as a failed probe
        probe_record = exc
    long_records = await asyncio.gather(*jobs, return_exceptions=True)
    return probe_record, long_records


def added_ttft(result: dict) -> dict:
    overhead = result["ttft_overhead_ms"]
    return {key: overhead.get(key) for key in ("n", "median", "p95")}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def production_environment(dev: bool) -> dict:
    """studyapp's settings for this run (this process and the server inherit them)."""
    if dev:
        os.environ["DJANGO_DEBUG"] = "1"
    else:
        os.environ["DJANGO_DEBUG"] = "0"
        os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(40))
        os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    return {"DJANGO_DEBUG": os.environ["DJANGO_DEBUG"]}


def describe_settings() -> dict:
    from django.conf import settings

    database = settings.DATABASES["default"]
    return {
        "label": "development (DEBUG on)" if settings.DEBUG else "production (DEBUG off)",
        "DEBUG": settings.DEBUG,
        "database_engine": database["ENGINE"],
        "database_pool": bool(database.get("OPTIONS", {}).get("pool")),
        "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
        "redis": bool(settings.REDIS_URL),
        "chat_frame_interval_s": settings.CHAT_FRAME_INTERVAL_S,
        "uvicorn_options": " ".join(["--workers", "1", *UVICORN_OPTIONS]),
    }


def main() -> int:
    args = parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    reps = max(args.repetitions, 1)
    if args.long_streams and args.long_tokens > 256:
        raise SystemExit("--long-tokens must be at most 256 (the arm's max_tokens)")
    if args.cpu_streams and args.cpu_tokens > 256:
        raise SystemExit("--cpu-tokens must be at most 256 (the arm's max_tokens)")
    started = time.monotonic()
    production_environment(args.dev)
    tmp = Path(tempfile.mkdtemp(prefix="studyapp-bench-"))
    engine = setup_django(tmp)

    from django.conf import settings

    from studyapp.devtools.scripted_server import ScriptedConfig, ScriptedServerThread

    ran_settings = describe_settings()
    model = ScriptedServerThread(
        ScriptedConfig(ttft_s=args.ttft, token_delay_s=args.token_delay, record_messages=True)
    ).start()
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
    long_per_rep = (args.long_streams + 1) if args.long_streams else 0
    level_reps = {level: max(reps, -(-args.min_turns // level)) for level in levels}
    needed = (
        1
        + sum(level * n for level, n in level_reps.items())
        + reps * (long_per_rep + 2 * args.cpu_streams)
    )
    enrolled = iter(enrol(model.base_url, needed, run_id))
    floor_ids = itertools.count()

    def take(target: str, count: int) -> list[dict]:
        if target == "studyapp":
            return [next(enrolled) for _ in range(count)]
        return [
            {"token": f"floor-{run_id}-{next(floor_ids)}", "session_key": ""} for _ in range(count)
        ]

    floor_env = os.environ.copy() | {
        "FLOOR_MODEL_URL": model.base_url,
        "FLOOR_MODEL": "scripted-demo",  # the bench arm's model name (enrol)
        "CHAT_FRAME_INTERVAL_S": str(settings.CHAT_FRAME_INTERVAL_S),
    }
    ports = {"studyapp": free_port(), "floor": free_port()}
    servers = {}
    rounds, floor_rounds, ratios = [], [], []
    cold: dict = {}
    long_result = cpu_result = None
    try:
        servers["studyapp"] = start_uvicorn(ports["studyapp"], tmp)
        servers["floor"] = start_uvicorn(
            ports["floor"], tmp, app=FLOOR_APP, env=floor_env, log_name="floor.log"
        )
        # The first turn in a worker pays one-off costs (TLS trust store, lazy SDK imports,
        # pool opening): measured apart, so the rounds show the steady state.
        for target in TARGETS:
            model.reset()
            records = asyncio.run(
                run_round(ports[target], take(target, 1), args.tokens, f"warmup-{target}")
            )
            cold[target] = analyse(records, model.requests(), 1, args.tokens)
        for level in levels:
            merged = {t: ([], []) for t in TARGETS}
            rep_medians: dict[str, list] = {t: [] for t in TARGETS}
            for rep in range(level_reps[level]):
                # Alternate which goes first, so a drift in the machine's load hits both.
                order = TARGETS if rep % 2 == 0 else TARGETS[::-1]
                for target in order:
                    model.reset()
                    tag = f"{target}-c{level}-r{rep}"
                    records = asyncio.run(
                        run_round(ports[target], take(target, level), args.tokens, tag)
                    )
                    requests = model.requests()
                    one = analyse(records, requests, level, args.tokens)
                    rep_medians[target].append(one["ttft_overhead_ms"].get("median"))
                    merged[target][0].extend(records)
                    merged[target][1].extend(requests)
            app_round = analyse(*merged["studyapp"], level, args.tokens)
            floor_round = analyse(*merged["floor"], level, args.tokens)
            app_round["repetitions"] = floor_round["repetitions"] = level_reps[level]
            rounds.append(app_round)
            floor_rounds.append(floor_round)
            app_added, floor_added = added_ttft(app_round), added_ttft(floor_round)
            ratios.append(
                {
                    "concurrency": level,
                    "studyapp_added_ttft_ms": app_added,
                    "floor_added_ttft_ms": floor_added,
                    "median_ratio": ratio(app_added["median"], floor_added["median"]),
                    "p95_ratio": ratio(app_added["p95"], floor_added["p95"]),
                    "studyapp_median_per_repetition_ms": rep_medians["studyapp"],
                    "floor_median_per_repetition_ms": rep_medians["floor"],
                }
            )
        if args.long_streams:
            long_result = run_long_scenario(args, ports, model, take, reps)
        if args.cpu_streams:
            cpu_result = run_cpu_scenario(args, ports, servers, model, take, reps)
    finally:
        for server in servers.values():
            server.terminate()
        for server in servers.values():
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
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
            "repetitions": reps,
            "min_turns": args.min_turns,
            "repetitions_per_level": {str(k): v for k, v in level_reps.items()},
            "database": engine,
            "server": "uvicorn (1 worker, subprocess)",
            "settings": ran_settings,
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        },
        "cold_first_turn": {
            "client_ttft_ms": cold["studyapp"]["client_ttft_ms"].get("median"),
            "server_ttft_ms": cold["studyapp"]["server_ttft_ms"].get("median"),
            "floor_client_ttft_ms": cold["floor"]["client_ttft_ms"].get("median"),
            "floor_server_ttft_ms": cold["floor"]["server_ttft_ms"].get("median"),
        },
        "rounds": rounds,
        "floor": {
            "app": FLOOR_APP,
            "what": (
                "raw ASGI WebSocket app, no Django: the same frames, one transaction of "
                "three statements before the ack (user row, conversation, assistant row) "
                "and one update at the end, one shared openai.AsyncOpenAI client, "
                "studyapp's DeltaFramer; same uvicorn options, same database"
            ),
            "rounds": floor_rounds,
        },
        "ratio": {
            "definition": (
                "added TTFT = client TTFT - model TTFT per turn; ratio = studyapp / floor, "
                "over all repetitions pooled"
            ),
            "by_concurrency": ratios,
        },
        "wall_s": round(time.monotonic() - started, 1),
    }
    if long_result is not None:
        result["long_streams"] = long_result
    if cpu_result is not None:
        result["cpu_per_token"] = cpu_result
    out = Path(args.out or ROOT / "bench" / "results" / f"relay-{engine}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"relay benchmark ({engine}, {os.cpu_count()} cpus) -> {out}")
    print(
        f"  studyapp settings: {ran_settings['label']}, pool {ran_settings['database_pool']}, "
        f"channel layer {ran_settings['channel_layer'].rsplit('.', 1)[-1]}; uvicorn "
        f"{ran_settings['uvicorn_options']}; load {result['machine']['load_average_1_5_15']}"
    )
    cold_turn = result["cold_first_turn"]
    print(
        f"  cold first turn of the worker: TTFT client {cold_turn['client_ttft_ms']} ms "
        f"vs model {cold_turn['server_ttft_ms']} ms (floor: {cold_turn['floor_client_ttft_ms']}"
        f" vs {cold_turn['floor_server_ttft_ms']} ms)"
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
    per_level = ", ".join(f"c={r['concurrency']}: {r['repetitions']}" for r in rounds)
    print(f"  added TTFT (client - model), ms, interleaved repetitions ({per_level}):")
    print("      c | studyapp median    p95 |  floor median    p95 | ratio median   p95")
    for row in ratios:
        a, f = row["studyapp_added_ttft_ms"], row["floor_added_ttft_ms"]
        print(
            f"    {row['concurrency']:>3} | {a['median']!s:>14} {a['p95']!s:>6} | "
            f"{f['median']!s:>13} {f['p95']!s:>6} | {row['median_ratio']!s:>12} "
            f"{row['p95_ratio']!s:>5}"
        )
    if long_result is not None:
        a, f = long_result["studyapp_added_ttft_ms"], long_result["floor_added_ttft_ms"]
        print(
            f"  new turn beside {long_result['long_streams']} long streams: added TTFT "
            f"studyapp {a.get('median')} ms (max {a.get('max')}) vs floor {f.get('median')} ms "
            f"(max {f.get('max')}), ratio {long_result['median_ratio']}"
        )
    if cpu_result is not None:
        c = cpu_result
        a, f = c["studyapp_cpu_us_per_token"], c["floor_cpu_us_per_token"]
        print(
            f"  CPU per relayed token ({c['streams']} streams x {c['tokens_per_reply']} "
            f"tokens): studyapp {a.get('median')} us vs floor {f.get('median')} us, ratio "
            f"{c['median_ratio']}; marginal studyapp {c['studyapp_marginal_us_per_token']} us "
            f"({c['studyapp_tokens_per_cpu_second']} tokens per CPU-second) vs floor "
            f"{c['floor_marginal_us_per_token']} us, ratio {c['marginal_ratio']}; fixed per "
            f"turn {c['studyapp_fixed_ms_per_turn']} ms vs {c['floor_fixed_ms_per_turn']} ms"
        )
    failed = any(r["failed"] for r in rounds + floor_rounds)
    if long_result is not None:
        failed = failed or any(long_result[f"{t}_failed"] for t in TARGETS)
    if cpu_result is not None:
        failed = failed or any(cpu_result[f"{t}_failed"] for t in TARGETS)
    return 1 if failed else 0


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_cpu_scenario(args, ports: dict, servers: dict, model, take, reps: int) -> dict:
    """The server process's CPU time per relayed token, `args.cpu_streams` replies at once,
    per target, alternately, `reps` times, at two reply lengths (`args.cpu_tokens` and a
    fifth of it): per token over the long round, and split into a marginal cost per token
    (the slope between the two lengths) and a fixed cost per turn (opening the socket, the
    history, the turn's transaction, storing the reply). Tokens are counted for replies
    the client saw complete."""
    lengths = {"long": args.cpu_tokens, "short": max(args.cpu_tokens // 5, 1)}
    cpu: dict[tuple[str, str], list[float]] = {}
    tokens_per_s: dict[str, list[float]] = {t: [] for t in TARGETS}
    failed = dict.fromkeys(TARGETS, 0)
    for rep in range(reps):
        order = TARGETS if rep % 2 == 0 else TARGETS[::-1]
        for target in order:
            for name, length in lengths.items():
                model.reset()
                pid = servers[target].pid
                cpu_before, wall_before = process_cpu_s(pid), time.monotonic()
                records = asyncio.run(
                    run_round(
                        ports[target],
                        take(target, args.cpu_streams),
                        length,
                        f"{target}-cpu-{name}-r{rep}",
                    )
                )
                cpu_after, wall = process_cpu_s(pid), time.monotonic() - wall_before
                one = analyse(records, model.requests(), args.cpu_streams, length)
                failed[target] += one["failed"]
                if cpu_before is None or cpu_after is None or not one["completed"]:
                    continue
                # CPU seconds per turn of this round.
                cpu.setdefault((target, name), []).append(
                    (cpu_after - cpu_before) / one["completed"]
                )
                if name == "long":
                    tokens_per_s[target].append(one["completed"] * length / wall)

    def figures(target: str) -> dict:
        long_turn = cpu.get((target, "long"), [])
        short_turn = cpu.get((target, "short"), [])
        if not long_turn or not short_turn:
            return {"per_token_us": {"n": 0}, "marginal_us": None, "fixed_ms": None}
        per_token = summary([c / lengths["long"] for c in long_turn], scale=1e6)
        long_m, short_m = statistics.median(long_turn), statistics.median(short_turn)
        marginal = (long_m - short_m) / (lengths["long"] - lengths["short"])
        return {
            "per_token_us": per_token,
            "marginal_us": round(marginal * 1e6, 1),
            "fixed_ms": round((short_m - marginal * lengths["short"]) * 1e3, 2),
            "cpu_ms_per_turn": {name: summary(cpu[(target, name)], scale=1e3) for name in lengths},
        }

    app, floor = figures("studyapp"), figures("floor")

    def per_cpu_second(us: float | None) -> int | None:
        return round(1e6 / us) if us else None

    return {
        "streams": args.cpu_streams,
        "tokens_per_reply": lengths["long"],
        "short_tokens_per_reply": lengths["short"],
        "model_token_delay_s": args.token_delay,
        "repetitions": reps,
        "definition": (
            "the server process's user + system CPU time over a round of N replies at once, "
            "per turn; per token = a long round's / its tokens; marginal = the slope between "
            "the long and the short rounds' medians (what one more relayed token costs, one "
            "frame per token at this pace); fixed = what a turn costs besides its tokens; "
            "tokens per CPU-second = 1e6 / marginal"
        ),
        "studyapp_cpu_us_per_token": app["per_token_us"],
        "floor_cpu_us_per_token": floor["per_token_us"],
        "median_ratio": ratio(
            app["per_token_us"].get("median"), floor["per_token_us"].get("median")
        ),
        "studyapp_marginal_us_per_token": app["marginal_us"],
        "floor_marginal_us_per_token": floor["marginal_us"],
        "marginal_ratio": ratio(app["marginal_us"], floor["marginal_us"]),
        "studyapp_fixed_ms_per_turn": app["fixed_ms"],
        "floor_fixed_ms_per_turn": floor["fixed_ms"],
        "studyapp_cpu_ms_per_turn": app.get("cpu_ms_per_turn"),
        "floor_cpu_ms_per_turn": floor.get("cpu_ms_per_turn"),
        "studyapp_tokens_per_cpu_second": per_cpu_second(app["marginal_us"]),
        "floor_tokens_per_cpu_second": per_cpu_second(floor["marginal_us"]),
        "studyapp_relayed_tokens_per_s": summary(tokens_per_s["studyapp"], scale=1.0),
        "floor_relayed_tokens_per_s": summary(tokens_per_s["floor"], scale=1.0),
        "studyapp_failed": failed["studyapp"],
        "floor_failed": failed["floor"],
    }


def run_long_scenario(args, ports: dict, model, take, reps: int) -> dict:
    """A new turn's added TTFT while `args.long_streams` long replies stream, per target,
    alternately, `reps` times."""
    probes: dict[str, tuple[list, list]] = {t: ([], []) for t in TARGETS}
    failed = dict.fromkeys(TARGETS, 0)
    for rep in range(reps):
        order = TARGETS if rep % 2 == 0 else TARGETS[::-1]
        for target in order:
            model.reset()
            probe_record, long_records = asyncio.run(
                run_long(
                    ports[target],
                    take(target, args.long_streams),
                    take(target, 1)[0],
                    long_tokens=args.long_tokens,
                    tokens=args.tokens,
                    tag=f"{target}-long-r{rep}",
                )
            )
            probes[target][0].append(probe_record)
            probes[target][1].extend(model.requests())
            failed[target] += sum(
                1
                for r in long_records
                if not (isinstance(r, dict) and r.get("status") == "complete")
            )
    results = {t: analyse(*probes[t], 1, args.tokens) for t in TARGETS}
    for t in TARGETS:
        failed[t] += results[t]["failed"]
    app_added = results["studyapp"]["ttft_overhead_ms"]
    floor_added = results["floor"]["ttft_overhead_ms"]
    return {
        "long_streams": args.long_streams,
        "long_tokens": args.long_tokens,
        "repetitions": reps,
        "studyapp_added_ttft_ms": app_added,
        "floor_added_ttft_ms": floor_added,
        "median_ratio": ratio(app_added.get("median"), floor_added.get("median")),
        "studyapp_probe_client_ttft_ms": results["studyapp"]["client_ttft_ms"],
        "floor_probe_client_ttft_ms": results["floor"]["client_ttft_ms"],
        "studyapp_failed": failed["studyapp"],
        "floor_failed": failed["floor"],
    }


if __name__ == "__main__":
    sys.exit(main())
