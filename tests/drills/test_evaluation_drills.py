"""A Redis restart (with no persistence: every queued Celery message is lost) in the middle
of an evaluation run on the production stack."""

from __future__ import annotations

import time

import pytest

from tests.drills.stack import Stack, print_drill, wait_for

pytestmark = [pytest.mark.drill, pytest.mark.timeout(600)]


def run_state(stack: Stack, key: str) -> tuple[str, int, int, int]:
    rows = stack.sql(
        "SELECT status, items_total, items_done, items_failed FROM evaluations_evaluationrun "
        "WHERE key = %s",
        (key,),
    )
    return rows[0]


def test_a_redis_restart_mid_run_resumes_within_a_minute(healthy: Stack, drill_model):
    drill_model.configure(ttft_s=0.3, token_delay_s=0.01)
    healthy.manage(
        "run_evaluation", "drill-chat", "--kind", "model_alone", "--n", "40",
        "--chunk-units", "4", "--concurrency", "1", "--no-wait",
    )  # fmt: skip
    key = healthy.sql("SELECT key FROM evaluations_evaluationrun ORDER BY id DESC LIMIT 1")[0][0]
    # Wait until the run is under way (a few items done), then lose Redis's data.
    wait_for(lambda: run_state(healthy, key)[2] >= 4, timeout=120, what="first items")
    done_before = run_state(healthy, key)[2]
    restarted_at = time.monotonic()
    healthy.restart_redis(down_s=2.0)
    restart_s = time.monotonic() - restarted_at
    # Resumed: a chunk that was queued when Redis lost it is claimed by a worker.
    resumed_s = wait_for(
        lambda: run_state(healthy, key)[2] > done_before + 8,
        timeout=120,
        what="the run to go on after the Redis restart",
        step=0.5,
    )
    wait_for(
        lambda: run_state(healthy, key)[0] in ("succeeded", "failed"),
        timeout=300,
        what="the run to finish",
        step=1.0,
    )
    status, total, done, failed = run_state(healthy, key)
    items = healthy.sql(
        "SELECT count(*), count(DISTINCT (i.item_key, i.repetition, i.turn)) "
        "FROM evaluations_evaluationitem i JOIN evaluations_evaluationrun r ON r.id = i.run_id "
        "WHERE r.key = %s AND i.status = 'succeeded'",
        (key,),
    )[0]
    print_drill(
        "Redis restart (data lost) during an evaluation run",
        items=total,
        items_done=done,
        items_failed=failed,
        items_duplicated=items[0] - items[1],
        done_before_restart=done_before,
        redis_down_s=round(restart_s, 1),
        resumed_after_s=round(restart_s + resumed_s, 1),
    )
    assert (status, done, failed) == ("succeeded", total, 0)
    assert items[0] == items[1] == total
    assert restart_s + resumed_s < 60
