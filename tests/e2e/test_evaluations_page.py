"""The evaluations page in a real browser, with a real Celery worker running the chunks.

An investigator starts a model-alone run and an MCQ run (the shared 300-question MedQA
sample) from the form, watches the progress bars move while the worker asks the scripted
model, reads the results (table, plotly chart, cost at the endpoint's prices) without
reloading, and cancels a third run part-way. Needs PostgreSQL and Redis, as the worker does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum
from playwright.sync_api import expect

from studyapp.celery import app as celery_app
from studyapp.evaluations.models import EvaluationRun
from studyapp.studies.demo import DEMO_ENDPOINT_NAME, demo_seed
from studyapp.studies.models import ModelEndpoint
from tests.conftest import require
from tests.e2e.conftest import sign_in
from tests.evaluations.runs.conftest import answer_key_of
from tests.factories import shared_data_dir

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
DESKTOP = {"width": 1280, "height": 860}
PASSWORD = "a-password-for-the-e2e-test"
MEDQA = "medqa_us_4opt_test_sample300.jsonl"
PRICES = {"prompt": 1000, "completion": 2000}
# One demo scenario's answer carries markup: the page must show it as text.
SCRIPT_REPLY = [
    "carrying paving slabs",
    "1) Ambulance 2) <script>window.__pwned = true</script> heart attack",
]
# A demo reply takes about 1.5 s at this pace, so a six-item run lasts several polls.
SLOW = {"ttft_s": 0.4, "token_delay_s": 0.01}
FAST = {"ttft_s": 0.02, "token_delay_s": 0.002}
# Every progress bar the page ever shows, as (row id, value, max), across htmx swaps.
RECORD_PROGRESS = """
window.__progress = [];
const record = () => document.querySelectorAll("progress.run-progress").forEach(
  bar => window.__progress.push([bar.closest("tr").id, bar.value, bar.max]));
document.addEventListener("DOMContentLoaded", () => {
  record();
  new MutationObserver(record).observe(document.body, {childList: true, subtree: true});
});
"""


@pytest.fixture
def worker(transactional_db, tmp_path):
    """A Celery worker process on this test's PostgreSQL database and Redis."""
    require(connection.vendor == "postgresql", "needs PostgreSQL (DATABASE_URL)")
    require(bool(settings.REDIS_URL), "needs Redis (REDIS_URL)")
    celery_app.connection_for_write().default_channel.queue_purge("celery")
    db = connection.settings_dict
    env = os.environ | {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "EVALUATION_POLL_S": "0.1",
        # One request at a time: the runs last long enough to watch.
        "EVALUATION_CONCURRENCY": "1",
    }
    # The browser fixture allows sync ORM calls in this process only; the worker must not.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "studyapp", "worker",
                "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-n", "e2e@%h", "--loglevel=INFO",
            ],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    yield process
    stop(process)
    # Shown when the test fails (pytest prints a failed test's captured output).
    sys.stderr.write(log_path.read_text()[-6000:])


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def demo(scripted):
    """The demo study (scripted arm) with prices, and the scripted server reset after."""
    demo_seed(
        scripted_model_url=scripted.base_url,
        investigator_password=PASSWORD,
        password_is_explicit=True,
    )
    endpoint = ModelEndpoint.objects.get(name=DEMO_ENDPOINT_NAME)
    endpoint.price_prompt_per_million = Decimal(PRICES["prompt"])
    endpoint.price_completion_per_million = Decimal(PRICES["completion"])
    endpoint.evaluation_concurrency = 1
    endpoint.full_clean()
    endpoint.save()
    yield endpoint
    scripted.configure(mcq_answer_key={}, keyed_replies=[])


def log_in(browser, base_url: str):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.add_init_script(RECORD_PROGRESS)
    sign_in(page, base_url, "investigator", PASSWORD)
    return context, page


def start_run(page, *, kind: str, n: int, items_file: str = "") -> EvaluationRun:
    before = set(EvaluationRun.objects.values_list("pk", flat=True))
    form = page.locator("#start-run")
    form.get_by_label("Kind").select_option(kind)
    form.get_by_label("Arm (model and sampling)").select_option("assistant")
    form.get_by_label("Repetitions per scenario, or number of questions").fill(str(n))
    if items_file:
        form.get_by_label("MCQ items").select_option(items_file)
    with page.expect_navigation():
        form.get_by_role("button", name="Start run").click()
    run = EvaluationRun.objects.exclude(pk__in=before).get()
    page.wait_for_selector(f"#run-{run.pk}")
    return run


def wait_for_status(page, run: EvaluationRun, status: str, timeout_s: float = 90) -> None:
    page.wait_for_selector(f'#run-{run.pk}[data-status="{status}"]', timeout=timeout_s * 1000)


def progress_seen(page, run: EvaluationRun) -> list[tuple[float, float]]:
    rows = page.evaluate("window.__progress")
    return [(value, top) for row, value, top in rows if row == f"run-{run.pk}"]


def expected_cost(run: EvaluationRun) -> float:
    """The cost at the endpoint's prices, from the stored items' token counts."""
    sums = run.items.aggregate(p=Sum("prompt_tokens"), c=Sum("completion_tokens"))
    return round(sums["p"] * PRICES["prompt"] / 1e6 + sums["c"] * PRICES["completion"] / 1e6, 4)


def tokens_row(page, run: EvaluationRun):
    return page.locator("#tokens tr", has=page.locator(f'th:text-is("{run.key}")'))


def test_an_investigator_runs_watches_reads_and_cancels_evaluations(
    live_asgi, browser, scripted, demo, worker
):
    require((shared_data_dir() / "medqa" / MEDQA).is_file(), f"needs ../shared/data/medqa/{MEDQA}")
    scripted.configure(keyed_replies=[SCRIPT_REPLY], **SLOW)
    context, page = log_in(browser, live_asgi.url)
    page.goto(f"{live_asgi.url}/studies/demo/evaluations/")
    assert page.locator("h1").inner_text() == "Model evaluations"
    # Nothing on the page is wider than a 1280 px window.
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]

    # The start form shows only the chosen kind's fields.
    form = page.locator("#start-run")
    form.get_by_label("Kind").select_option("mcq")
    expect(form.get_by_label("MCQ items")).to_be_visible()
    expect(form.get_by_label("Model-alone prompt")).to_be_hidden()
    expect(form.get_by_label("Rubric grader model")).to_be_hidden()
    form.get_by_label("Kind").select_option("model_alone")
    expect(form.get_by_label("MCQ items")).to_be_hidden()
    expect(form.get_by_label("Model-alone prompt")).to_be_visible()

    # A model-alone run: the bar moves while the worker asks, then the run succeeds.
    baseline = start_run(page, kind="model_alone", n=1)
    assert baseline.items_total == 6
    wait_for_status(page, baseline, "succeeded")
    seen = progress_seen(page, baseline)
    assert any(0 < value < top for value, top in seen), seen
    assert seen[-1] == (6, 6)
    row = page.locator(f"#run-{baseline.pk}")
    assert "Succeeded" in row.inner_text() and "6/6" in row.inner_text()

    # The results arrive without a reload: table, drawn chart, cost at the endpoint's prices.
    page.wait_for_selector("#comparison")
    page.wait_for_selector('[data-plotly="evaluations-comparison"] .main-svg')
    baseline.refresh_from_db()
    assert baseline.config["price_per_million"] == PRICES
    cost = expected_cost(baseline)
    assert cost > 0
    assert tokens_row(page, baseline).locator("td").last.inner_text() == f"{cost:.4f}"
    assert page.evaluate("window.__pwned") is None

    # Markup written by the model is shown as text on the run's own page.
    page.locator(f"#run-{baseline.pk} a").click()
    response_cell = page.get_by_text("<script>window.__pwned = true</script>", exact=False)
    assert response_cell.is_visible()
    assert page.evaluate("window.__pwned") is None
    page.goto(f"{live_asgi.url}/studies/demo/evaluations/")

    # An MCQ run on the shared MedQA sample, answered by the scripted model's answer key.
    scripted.configure(mcq_answer_key=answer_key_of(shared_data_dir() / "medqa" / MEDQA), **FAST)
    mcq = start_run(page, kind="mcq", n=30, items_file=MEDQA)
    assert mcq.items_total == 30
    wait_for_status(page, mcq, "succeeded")
    page.wait_for_selector(f'#tokens th:text-is("{mcq.key}")')
    mcq_cells = tokens_row(page, mcq).locator("td")
    # The row was drawn when the run began; the results block reloads itself once nothing
    # runs any more (a request after the poll that saw the run finish), so wait for it.
    expect(mcq_cells.nth(2)).to_have_text("accuracy 1.000", timeout=15000)
    assert mcq_cells.last.inner_text() == f"{expected_cost(mcq):.4f}"
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]

    # A long run, cancelled once it has begun: it stops with items left undone.
    scripted.configure(**SLOW)
    long_run = start_run(page, kind="model_alone", n=3)
    page.wait_for_function(
        """id => {
             const bar = document.querySelector(`#run-${id} progress`);
             return bar && bar.value > 0;
           }""",
        arg=long_run.pk,
        timeout=60000,
    )
    # The study page shows the same run, running, with its own moving bar.
    study_page = context.new_page()
    study_page.goto(f"{live_asgi.url}/studies/demo/")
    study_page.wait_for_selector(f'#run-{long_run.pk}[data-status="running"] progress')
    study_page.close()
    with page.expect_navigation():
        page.locator(f"#run-{long_run.pk}").get_by_role("button", name="Cancel").click()
    wait_for_status(page, long_run, "cancelled", timeout_s=15)
    assert "Cancelled" in page.locator(f"#run-{long_run.pk}").inner_text()
    stop(worker)
    long_run.refresh_from_db()
    assert long_run.status == EvaluationRun.Status.CANCELLED
    assert 0 < long_run.items_done < long_run.items_total == 18
    context.close()
