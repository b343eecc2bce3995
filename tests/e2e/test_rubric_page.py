"""Rubric grading in a real browser: an investigator starts a rubric run of a model-alone
run from the evaluations form, and reads its scores, loaded by htmx from the ratings app
with the raters' agreement beside them (none yet), and each verdict on the run's page.

Chunks run in the request (Celery eager in this process, which serves the live server), so
no worker is needed. The model-alone output of one demo scenario names its rubric keys:
paving-slabs advises-999 3 + names-heart-attack 2 +
answer-names-heart-attack 1 = 6 of 7; the other five outputs name nothing (0).
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from studyapp.celery import app as celery_app
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.runtime.runner import evaluation_run_inline
from studyapp.evaluations.services import StartRequest, evaluation_start
from studyapp.studies.demo import DEMO_ENDPOINT_NAME, demo_seed
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-password-for-the-e2e-test"
DESKTOP = {"width": 1280, "height": 860}
OUTPUT = "1) Ambulance 2) advises-999 names-heart-attack answer-names-heart-attack"


@pytest.fixture
def model_alone(scripted, settings):
    settings.EVALUATION_RETRY_BASE_S = 0.01
    study = demo_seed(
        scripted_model_url=scripted.base_url,
        investigator_password=PASSWORD,
        password_is_explicit=True,
    ).study
    scripted.configure(keyed_replies=[["carrying paving slabs", OUTPUT]])
    run = evaluation_start(
        study=study, request=StartRequest(kind="model_alone", n=1), enqueue=False
    )

    # Playwright keeps an event loop in this thread: the run's own loop needs another.
    def run_it() -> None:
        try:
            evaluation_run_inline(run_id=run.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=run_it)
    worker.start()
    worker.join(60)
    scripted.configure(keyed_replies=[])
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield run
    celery_app.conf.task_always_eager = before


def test_an_investigator_grades_a_run_and_reads_the_scores(live_asgi, browser, model_alone):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, live_asgi.url, "investigator", PASSWORD)
    page.goto(f"{live_asgi.url}/studies/demo/evaluations/")

    form = page.locator("#start-run")
    form.get_by_label("Kind").select_option("rubric")
    form.get_by_label("Rubric grader model").select_option(DEMO_ENDPOINT_NAME)
    form.get_by_label("Grade participants' chats and answers").uncheck()
    form.get_by_label(model_alone.key).check()
    with page.expect_navigation():
        form.get_by_role("button", name="Start run").click()
    run = EvaluationRun.objects.get(kind="rubric")
    assert run.status == EvaluationRun.Status.SUCCEEDED and run.items_failed == 0

    # The scores arrive from the ratings fragment: mean over six outputs, 6/7 and five 0s.
    row = page.locator(f"#rubric-{run.pk} table.rubric-scores tr[data-source='model_alone']")
    row.wait_for()
    assert f"{6 / 7 / 6:.3f}" in row.locator("[data-stat='score']").inner_text()
    assert row.locator("[data-stat='raters']").inner_text() == "no rater labels yet"
    page.locator(f"#rubric-{run.pk} summary", has_text="Per rubric item").click()
    item = page.locator(f"#rubric-{run.pk} tr[data-item='paving-slabs:reassures-muscular']")
    assert "0/1" in item.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]

    # The run's own page: each verdict with the grader's explanation, and the scores again.
    page.goto(f"{live_asgi.url}/studies/demo/evaluations/{run.pk}/")
    page.locator(f"#rubric-{run.pk} table.rubric-scores").wait_for()
    assert page.get_by_text("The graded text names advises-999", exact=False).count() >= 1
    context.close()
