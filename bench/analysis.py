"""Analysis benchmark: dashboard, report and exports on a synthetic study at two sizes.

Builds synthetic studies (bench/synthetic.py: participants x 2 tasks, 20 messages per
participant, so 10,000 participants have 200,000 messages), then measures, per size:

- server time (median of several requests through django.test.Client, in process) and
  query count of the analysis dashboard (plain, filtered + blinded, the htmx partial), a
  page of the task list, one transcript, the study page and `study_report`;
- the transcript scorer's throughput (a sample of chats re-scored), and what scoring all
  of a study's chats would take;
- `export_study` in each format, each in a fresh subprocess: time, and peak memory
  (VmHWM) before and after the export, to show that memory does not grow with rows.

    .venv/bin/python bench/analysis.py [--sizes 1000,10000] [--repeat 5] [--out FILE]

Database: a temporary SQLite file; or, with DATABASE_URL pointing at PostgreSQL, a
scratch database `<name>_analysis_bench` on the same server, created and dropped here.
Results: bench/results/analysis-<engine>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MESSAGES_PER_PARTICIPANT = 20
SCORING_SAMPLE = 200


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="participants per study")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per page")
    parser.add_argument("--formats", default="csv,jsonl,parquet")
    parser.add_argument("--out", default=None, help="result file")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the scratch DB")
    parser.add_argument("--dev", action="store_true", help="development settings (DJANGO_DEBUG=1)")
    # Internal: one export in a fresh process (for a clean peak-memory figure).
    parser.add_argument("--export-worker", nargs=3, metavar=("SLUG", "FORMAT", "DIR"))
    return parser.parse_args()


def maxrss_mib() -> float:
    """Peak resident memory of this process so far (MiB).

    VmHWM of /proc/self/status where there is one: on Linux a child's ru_maxrss starts at
    its parent's peak (it survives fork and exec), which would hide the export's own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1)


def scratch_database(tmp: Path) -> tuple[dict, str | None]:
    """Environment for this process and its workers; the scratch PostgreSQL DB's name."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "studyapp.settings")
    # Production settings (DEBUG off: no query log, cached templates), as a server runs;
    # `--dev` for the development ones. The pages are requested as https (behind the
    # proxy), so that the SSL redirect does not answer them.
    if os.environ.get("BENCH_DEV") == "1":
        env["DJANGO_DEBUG"] = "1"
    else:
        env["DJANGO_DEBUG"] = "0"
        env.setdefault("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(40))
        env.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
        # Production pages name their static files by the collected manifest.
        env.setdefault("STATIC_ROOT", str(tmp / "static"))
    env.setdefault("LOG_LEVEL", "WARNING")
    env.setdefault("STUDYAPP_RUN_DIR", str(tmp / "run"))
    # The dashboard queues background jobs (the plan's model fits, transcript scores) on
    # the development broker, a folder: make it, as run_embedded does (nobody consumes).
    for sub in ("celery-broker", "celery-processed", "celery-control"):
        (Path(env["STUDYAPP_RUN_DIR"]) / sub).mkdir(parents=True, exist_ok=True)
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        env["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
        return env, None
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("bench/analysis.py supports SQLite (default) or PostgreSQL")
    name = f"{config['NAME']}_analysis_bench"
    admin = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "dbname": "postgres",
    }
    with psycopg.connect(**{k: v for k, v in admin.items() if v}, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + name
    env["BENCH_ADMIN_DSN"] = json.dumps(admin)
    return env, name


def drop_database(env: dict, name: str) -> None:
    import psycopg

    admin = json.loads(env["BENCH_ADMIN_DSN"])
    with psycopg.connect(**{k: v for k, v in admin.items() if v}, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(env: dict) -> str:
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings

    if not settings.DEBUG and not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)
    return settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]


def export_worker(slug: str, fmt: str, out_dir: str) -> int:
    """Runs in a fresh process: one export, timed, with peak memory before and after."""
    setup_django(dict(os.environ))
    import pyarrow  # noqa: F401 (imported before the baseline, as the export needs it)

    from studyapp.analysis import exports
    from studyapp.studies.models import Study

    study = Study.objects.get(slug=slug)
    baseline = maxrss_mib()
    tables = {}
    started = time.perf_counter()
    for name in exports.TABLES:
        t0 = time.perf_counter()
        counts = exports.export_to_directory(
            study=study, fmt=fmt, out_dir=Path(out_dir), tables=[name]
        )
        tables[name] = {
            "rows": counts[name],
            "seconds": round(time.perf_counter() - t0, 2),
            "bytes": (Path(out_dir) / exports.file_name(name, fmt)).stat().st_size,
            "peak_rss_mib_after": maxrss_mib(),
        }
    result = {
        "format": fmt,
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib_before_export": baseline,
        "peak_rss_mib": maxrss_mib(),
        "tables": tables,
    }
    result["peak_rss_growth_mib"] = round(result["peak_rss_mib"] - baseline, 1)
    print(json.dumps(result))
    return 0


def timed_get(client, url: str, *, repeat: int, params=None, headers=None) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = headers or {}
    client.get(url, params, headers=headers, secure=True)  # warm: imports, caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, params, headers=headers, secure=True)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params, headers=headers, secure=True)
    return {
        "median_ms": round(1000 * statistics.median(times), 1),
        "min_ms": round(1000 * min(times), 1),
        "max_ms": round(1000 * max(times), 1),
        "queries": len(queries.captured_queries),
        "response_kib": round(len(response.content) / 1024, 1),
    }


def measure_pages(study, user, repeat: int) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from studyapp.analysis.models import ConversationScore
    from studyapp.participation.models import Task

    client = Client(HTTP_HOST="localhost")  # an allowed host in the default settings
    client.force_login(user)
    dashboard = reverse("analysis:dashboard", args=[study.slug])
    filtered = {"completed_only": "1", "attention_passed": "1", "blinded": "1"}
    busiest = (
        ConversationScore.objects.filter(conversation__task__participant__study=study)
        .order_by("-n_messages")
        .values_list("conversation__task_id", flat=True)
        .first()
    ) or Task.objects.filter(participant__study=study).values_list("pk", flat=True).first()
    # An enrolling study withholds inference until an interim look is recorded: record
    # one, so the pages are timed with every figure (the heavier case).
    client.post(
        reverse("analysis:reveal_inference", args=[study.slug]),
        {"reason": "the benchmark times the pages with every figure"},
        secure=True,
    )
    results = {
        "dashboard": timed_get(client, dashboard, repeat=repeat),
        "dashboard_filtered_blinded": timed_get(client, dashboard, repeat=repeat, params=filtered),
        "dashboard_htmx_partial": timed_get(
            client, dashboard, repeat=repeat, params=filtered, headers={"HX-Request": "true"}
        ),
        "task_list_page_50": timed_get(
            client,
            reverse("analysis:dashboard_tasks", args=[study.slug]),
            repeat=repeat,
            params={"page": "50"},
        ),
        "transcript_longest_chat": timed_get(
            client, reverse("analysis:transcript", args=[study.slug, busiest]), repeat=repeat
        ),
        "study_page": timed_get(
            client, reverse("analysis:study_detail", args=[study.slug]), repeat=repeat
        ),
    }
    # The plan's GEE models and bootstraps (a worker fits them per data version; the page
    # reads the cache): one fit, then the page with them cached.
    from studyapp.analysis.services import plan_models_fit

    started = time.perf_counter()
    plan_models_fit(study=study)
    fit_ms = round(1000 * (time.perf_counter() - started), 1)
    results["plan_models_fit"] = {
        "median_ms": fit_ms,
        "min_ms": fit_ms,
        "max_ms": fit_ms,
        "queries": None,
        "samples": 1,
    }
    results["dashboard_models_cached"] = timed_get(client, dashboard, repeat=repeat)
    times = []
    for _ in range(max(1, repeat // 2)):
        started = time.perf_counter()
        call_command("study_report", study.slug, "--format", "json", stdout=StringIO())
        times.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as queries:
        call_command("study_report", study.slug, "--format", "json", stdout=StringIO())
    results["study_report_command"] = {
        "median_ms": round(1000 * statistics.median(times), 1),
        "queries": len(queries.captured_queries),
    }
    return results


def measure_scoring(study) -> dict:
    """Re-score a sample of chats with the real scorer; extrapolate to the whole study."""
    from studyapp.analysis.models import ConversationScore
    from studyapp.analysis.services import conversation_scores_refresh

    scores = ConversationScore.objects.filter(conversation__task__participant__study=study)
    total = scores.count()
    sample = list(scores.order_by("pk").values_list("pk", flat=True)[:SCORING_SAMPLE])
    messages = sum(scores.filter(pk__in=sample).values_list("n_messages", flat=True))
    ConversationScore.objects.filter(pk__in=sample).update(scorer_version="bench-stale")
    started = time.perf_counter()
    done, _left = conversation_scores_refresh(study=study, limit=len(sample))
    seconds = time.perf_counter() - started
    per_chat = seconds / max(done, 1)
    return {
        "chats_scored": done,
        "messages_scored": messages,
        "seconds": round(seconds, 2),
        "ms_per_chat": round(1000 * per_chat, 2),
        "ms_per_message": round(1000 * seconds / max(messages, 1), 3),
        "answered_chats_in_study": total,
        "estimated_seconds_for_all": round(per_chat * total, 1),
    }


def measure_scorer_on_real_text() -> dict | None:
    """The transcript scorer on real chat text: HELPMed's participants' first messages and
    GPT-4o's replies to them, against each scenario's full differential (about 20 gold
    terms). Synthetic chats are short and have 3-4 gold terms, so they flatter the scorer.
    Needs ../shared/data/helpmed (or $STUDYAPP_SHARED_DATA); None without it."""
    import ast
    import csv

    from studyapp.scoring.conditions import matched_conditions

    folder = Path(os.environ.get("STUDYAPP_SHARED_DATA") or ROOT.parent / "shared" / "data")
    folder = folder / "helpmed"
    if not (folder / "gpt4o_first_turn_results.csv").exists():
        return None
    with (folder / "scenarios.csv").open(newline="", encoding="utf-8") as f:
        gold = {
            r["scenario_id"]: ast.literal_eval(r["full_differential"]) for r in csv.DictReader(f)
        }
    with (folder / "gpt4o_first_turn_results.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    result = {"messages": len(rows)}
    for field, name in (("body", "participant"), ("response", "model")):
        started = time.perf_counter()
        for row in rows:
            matched_conditions(row[field], gold[row["scenario_id"]])
        seconds = time.perf_counter() - started
        result[f"{name}_ms_per_message"] = round(1000 * seconds / len(rows), 3)
        result[f"{name}_mean_chars"] = round(sum(len(r[field]) for r in rows) / len(rows))
    # Half the messages are the model's: a study's worth of chats at this rate, one core.
    per_pair = result["participant_ms_per_message"] + result["model_ms_per_message"]
    result["estimated_seconds_per_100k_message_pairs"] = round(per_pair * 100, 1)
    return result


def measure_exports(env: dict, slug: str, formats: list[str], tmp: Path) -> dict:
    results = {}
    for fmt in formats:
        out = tmp / f"export-{slug}-{fmt}"
        completed = subprocess.run(
            [sys.executable, str(Path(__file__)), "--export-worker", slug, fmt, str(out)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"export worker failed:\n{completed.stderr[-3000:]}")
        results[fmt] = json.loads(completed.stdout.strip().splitlines()[-1])
        shutil.rmtree(out, ignore_errors=True)
    return results


def main() -> int:
    args = parse_args()
    if args.export_worker:
        return export_worker(*args.export_worker)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="studyapp-analysis-bench-"))
    if args.dev:
        os.environ["BENCH_DEV"] = "1"
    env, scratch = scratch_database(tmp)
    try:
        engine = setup_django(env)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from bench.synthetic import build_synthetic_study

        call_command("migrate", verbosity=0, interactive=False)
        user = get_user_model().objects.create_user("bench-analyst")
        real_text = measure_scorer_on_real_text()
        print(f"scorer on real chat text: {json.dumps(real_text)}", flush=True)
        runs = []
        for size in sizes:
            built = build_synthetic_study(
                slug=f"bench-{size}",
                participants=size,
                messages=size * MESSAGES_PER_PARTICIPANT,
            )
            print(
                f"built {built.slug}: {built.participants} participants, {built.tasks} tasks, "
                f"{built.answers} answers, {built.messages} messages in {built.seconds} s",
                flush=True,
            )
            from django.db import connection

            from studyapp.studies.members import membership_grant
            from studyapp.studies.models import Study
            from studyapp.studies.roles import Role

            if connection.vendor == "postgresql":
                # Statistics for the planner, as autovacuum keeps them on a running server:
                # straight after a bulk load, PostgreSQL plans the export's joins blind (the
                # tasks table of 10,000 participants took 6.1 s to export, 0.8 s after).
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")

            # Planner statistics, as a live database has them (autovacuum; bulk inserts
            # leave PostgreSQL guessing a handful of rows per table).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            study = Study.objects.get(pk=built.study_id)
            membership_grant(study=study, user=user, role=Role.OWNER)
            pages = measure_pages(study, user, args.repeat)
            print(f"  pages: {json.dumps(pages)}", flush=True)
            scoring = measure_scoring(study)
            print(f"  transcript scoring: {json.dumps(scoring)}", flush=True)
            export = measure_exports(env, built.slug, formats, tmp)
            for fmt, r in export.items():
                print(
                    f"  export {fmt}: {r['seconds']} s, peak RSS {r['peak_rss_mib']} MiB "
                    f"(+{r['peak_rss_growth_mib']} MiB over {r['peak_rss_mib_before_export']})",
                    flush=True,
                )
            runs.append(
                {
                    "participants": built.participants,
                    "tasks": built.tasks,
                    "answers": built.answers,
                    "conversations": built.conversations,
                    "messages": built.messages,
                    "build_seconds": built.seconds,
                    "pages": pages,
                    "transcript_scoring": scoring,
                    "exports": export,
                }
            )
    finally:
        if scratch and not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(env, scratch)
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "benchmark": "analysis",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "database": engine,
            "sizes": sizes,
            "messages_per_participant": MESSAGES_PER_PARTICIPANT,
            "tasks_per_participant": 2,
            "repeat": args.repeat,
            "server_time": "django.test.Client in process (middleware, view, template)",
            "peak_memory": "peak RSS (VmHWM) of a fresh process per format",
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "settings": "development (DEBUG on)"
            if os.environ.get("DJANGO_DEBUG") == "1"
            else "production (DEBUG off)",
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "scorer_on_real_chat_text": real_text,
        "runs": runs,
        "wall_s": round(time.monotonic() - started, 1),
    }
    out = Path(args.out or ROOT / "bench" / "results" / f"analysis-{engine}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"analysis benchmark ({engine}, {os.cpu_count()} cpus) -> {out}")
    header = f"{'':>30}" + "".join(f"{r['participants']:>16}" for r in runs)
    print(header)
    for page in runs[0]["pages"] if runs else []:
        cells = "".join(
            f"{r['pages'][page]['median_ms']:>9.1f} ms/{r['pages'][page]['queries'] or 0:>2}q"
            for r in runs
        )
        print(f"{page:>30}{cells}")
    for fmt in formats:
        cells = "".join(
            f"{r['exports'][fmt]['seconds']:>7.1f}s "
            f"{r['exports'][fmt]['peak_rss_growth_mib']:>+5.0f}M"
            for r in runs
        )
        print(f"{'export ' + fmt + ' (time, RSS growth)':>30}{cells}")
    print(f"wall {result['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
