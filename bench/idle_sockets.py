"""Idle-socket memory: what one open, idle chat socket costs the server process.

Serves studyapp (production settings, as bench/relay.py) and the floor relay
(bench/floor_relay.py) under the same uvicorn options, opens a few sockets to warm each
server up (imports, pools, caches), closes them, then opens N chat sockets that each
receive their history frame and stay idle. The server's resident memory (VmRSS of the
uvicorn process, which with one worker is the process that holds the sockets) is read
before and after: (after - before) / N is the cost per idle socket. The client offers
permessage-deflate, as browsers do; each variant of uvicorn's options is measured on
both apps, alternately, `--repetitions` times.

    .venv/bin/python bench/idle_sockets.py [--sockets 300] [--repetitions 2] [--out FILE]

Database: a temporary SQLite file, or DATABASE_URL when set (migrated first).
Results: bench/results/idle-sockets-<database engine>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
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

from bench.common import UVICORN_OPTIONS, free_port, setup_django, start_uvicorn  # noqa: E402
from bench.relay import FLOOR_APP, enrol, production_environment  # noqa: E402

# The option under test; every other uvicorn option is bench.common's (production's).
VARIANTS = {
    "permessage-deflate on": ["--ws-per-message-deflate", "true"],
    "permessage-deflate off": ["--ws-per-message-deflate", "false"],
}
WARMUP_SOCKETS = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=300, help="idle sockets per measure")
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--out", default=None)
    return parser.parse_args()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


async def open_idle(port: int, clients: list[dict]) -> list:
    """Open one socket per client and read its history frame; returns the open sockets."""
    from websockets.asyncio.client import connect

    async def one(client: dict):
        ws = await connect(
            f"ws://127.0.0.1:{port}/ws/p/{client['token']}/tasks/1/chat/",
            origin=f"http://127.0.0.1:{port}",
            additional_headers={"Cookie": f"sessionid={client['session_key']}"},
            proxy=None,
            open_timeout=60,
        )
        frame = json.loads(await ws.recv())
        assert frame["type"] == "history", frame
        return ws

    sockets = []
    # A few at a time: the measure is of idle sockets, not of a connection storm.
    for start in range(0, len(clients), 25):
        sockets += await asyncio.gather(*(one(c) for c in clients[start : start + 25]))
    return sockets


async def close_all(sockets: list) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def measure(pid: int, port: int, warm: list[dict], clients: list[dict]) -> dict:
    await close_all(await open_idle(port, warm))
    await asyncio.sleep(1.0)
    before = rss_kib(pid)
    sockets = await open_idle(port, clients)
    await asyncio.sleep(2.0)  # every handshake and history frame settled
    after = rss_kib(pid)
    negotiated = sockets[0].response.headers.get("Sec-WebSocket-Extensions") or ""
    await close_all(sockets)
    return {
        "sockets": len(clients),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_socket": round((after - before) / len(clients), 1),
        "negotiated_extensions": negotiated,
    }


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    production_environment(dev=False)
    tmp = Path(tempfile.mkdtemp(prefix="studyapp-idle-"))
    engine = setup_django(tmp)
    from django.conf import settings

    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
    per_measure = WARMUP_SOCKETS + args.sockets
    needed = per_measure * args.repetitions * len(VARIANTS)
    # The model is never asked: idle sockets send nothing.
    enrolled = iter(enrol("http://127.0.0.1:9/v1", needed, run_id))
    floor_ids = itertools.count()

    def take(target: str, count: int) -> list[dict]:
        if target == "studyapp":
            return [next(enrolled) for _ in range(count)]
        return [
            {"token": f"idle-{run_id}-{next(floor_ids)}", "session_key": ""} for _ in range(count)
        ]

    floor_env = os.environ.copy() | {"CHAT_FRAME_INTERVAL_S": str(settings.CHAT_FRAME_INTERVAL_S)}
    results: dict[str, dict[str, list[dict]]] = {}
    try:
        for variant, options in VARIANTS.items():
            results[variant] = {"studyapp": [], "floor": []}
            for rep in range(args.repetitions):
                order = ("studyapp", "floor") if rep % 2 == 0 else ("floor", "studyapp")
                for target in order:
                    port = free_port()
                    if target == "studyapp":
                        server = start_uvicorn(port, tmp, extra_options=options)
                    else:
                        server = start_uvicorn(
                            port,
                            tmp,
                            app=FLOOR_APP,
                            env=floor_env,
                            log_name="floor.log",
                            extra_options=options,
                        )
                    try:
                        gc.collect()
                        one = asyncio.run(
                            measure(
                                server.pid,
                                port,
                                take(target, WARMUP_SOCKETS),
                                take(target, args.sockets),
                            )
                        )
                    finally:
                        server.terminate()
                        try:
                            server.wait(timeout=10)
                        except subprocess.TimeoutExpired:
                            server.kill()
                    results[variant][target].append(one)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    summary = {
        variant: {
            target: statistics.median(r["kib_per_socket"] for r in runs)
            for target, runs in by_target.items()
        }
        for variant, by_target in results.items()
    }
    result = {
        "benchmark": "idle-sockets",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "sockets": args.sockets,
            "repetitions": args.repetitions,
            "database": engine,
            "uvicorn_options": " ".join(["--workers", "1", *UVICORN_OPTIONS]),
            "variants": {k: " ".join(v) for k, v in VARIANTS.items()},
            "client": "websockets (offers permessage-deflate, as browsers do)",
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        },
        "kib_per_idle_socket_median": summary,
        "runs": results,
        "wall_s": round(time.monotonic() - started, 1),
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"idle-sockets-{engine}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"idle sockets ({engine}, {args.sockets} sockets, {args.repetitions} reps) -> {out}")
    for variant, by_target in summary.items():
        print(
            f"  {variant:>24}: studyapp {by_target['studyapp']:.1f} KiB/socket, "
            f"floor {by_target['floor']:.1f} KiB/socket"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
