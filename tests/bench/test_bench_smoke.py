"""The benchmarks still run (tiny sizes, SQLite in a temp folder): `make bench` is not part
of CI, so a change that breaks a benchmark would otherwise go unnoticed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.timeout(180)
def test_the_relay_benchmark_streams_every_reply(tmp_path):
    result = run_bench(
        "relay.py", "--concurrency", "1,3", "--tokens", "5", "--ttft", "0.05",
        "--token-delay", "0.01", "--repetitions", "2", "--min-turns", "4", "--cpu-streams", "2",
        "--cpu-tokens", "10", out=tmp_path / "relay.json",
    )  # fmt: skip
    # Every repetition's turns, pooled, for studyapp and for the floor: at least 4 turns a
    # level (4 x 1), and at least the 2 repetitions (2 x 3).
    rounds = {r["concurrency"]: r for r in result["rounds"]}
    assert (rounds[1]["completed"], rounds[3]["completed"]) == (4, 6)
    assert result["config"]["repetitions_per_level"] == {"1": 4, "3": 2}
    assert rounds[1]["failed"] == rounds[3]["failed"] == 0
    assert rounds[3]["frames_per_reply"]["median"] >= 1
    ratios = {r["concurrency"]: r for r in result["ratio"]["by_concurrency"]}
    assert ratios[3]["floor_added_ttft_ms"]["n"] == 6
    assert ratios[3]["studyapp_added_ttft_ms"]["n"] == 6
    assert ratios[3]["median_ratio"] > 0
    # The server's CPU per relayed token, both apps, both reply lengths, every turn complete.
    cpu = result["cpu_per_token"]
    assert (cpu["tokens_per_reply"], cpu["short_tokens_per_reply"]) == (10, 2)
    assert cpu["studyapp_failed"] == cpu["floor_failed"] == 0
    for target in ("studyapp", "floor"):
        assert cpu[f"{target}_cpu_us_per_token"]["n"] == 2
        assert cpu[f"{target}_cpu_us_per_token"]["median"] > 0
        assert cpu[f"{target}_cpu_ms_per_turn"]["short"]["n"] == 2


@pytest.mark.timeout(180)
def test_the_idle_socket_benchmark_measures_both_apps_with_and_without_deflate(tmp_path):
    result = run_bench(
        "idle_sockets.py", "--sockets", "10", "--repetitions", "1", out=tmp_path / "idle.json"
    )
    runs = result["runs"]
    assert set(runs) == {"permessage-deflate on", "permessage-deflate off"}
    for variant, by_target in runs.items():
        for target in ("studyapp", "floor"):
            [run] = by_target[target]
            assert run["sockets"] == 10 and run["rss_after_kib"] > 0
            # What the server agreed to is what the variant says.
            assert ("permessage-deflate" in run["negotiated_extensions"]) is (
                variant == "permessage-deflate on"
            )


@pytest.mark.timeout(180)
def test_the_enrolment_benchmark_allocates_everyone_once(tmp_path):
    result = run_bench(
        "enrolment.py", "--simulated", "16", "--http", "8", "--concurrency", "4",
        out=tmp_path / "enrolment.json",
    )  # fmt: skip
    http = result["http"]
    assert (http["succeeded"], http["failed"]) == (8, 0)
    assert http["one_allocation_each"] is True and http["gap_free"] is True
    assert str(http["verify_allocation"]).startswith("OK")


@pytest.mark.timeout(180)
def test_the_evaluations_benchmark_holds_every_run_to_its_slots(tmp_path):
    result = run_bench(
        "evaluations.py", "--questions", "12", "--limits", "1,4", "--concurrency", "3",
        "--ttft", "0.02", "--slot-iterations", "50", "--shared-limit", "2",
        out=tmp_path / "evaluations.json",
    )  # fmt: skip
    assert set(result["slot_overhead"]) == {"file"}  # no REDIS_URL here
    assert result["slot_overhead"]["file"]["acquire_release_us"]["n"] == 50
    rounds = {r["limit"]: r for r in result["rounds"]}
    shared = result["shared"]
    for r in (rounds[1], rounds[4], shared):
        assert (r["items_done"], r["items_failed"], r["correct"]) == (12, 0, 12)
        assert r["model_requests"] == 12  # nothing asked twice
    # The smaller of the endpoint's slots and the chunk's concurrency, across processes too.
    assert [rounds[1]["peak_in_flight"], rounds[4]["peak_in_flight"]] == [1, 3]
    assert (shared["processes"], shared["peak_in_flight"]) == (2, 2)


@pytest.mark.timeout(180)
def test_the_analysis_benchmark_times_every_page_on_production_settings(tmp_path):
    result = run_bench(
        "analysis.py", "--sizes", "60", "--repeat", "1", "--formats", "csv",
        out=tmp_path / "analysis.json",
    )  # fmt: skip
    assert result["machine"]["settings"] == "production (DEBUG off)"
    (run,) = result["runs"]
    pages = run["pages"]
    for page in ("dashboard", "dashboard_models_cached", "study_page", "plan_models_fit"):
        assert pages[page]["median_ms"] > 0, page
    # The query count is fixed whatever the size (tests/analysis holds it).
    assert pages["dashboard"]["queries"] == pages["dashboard_models_cached"]["queries"]
