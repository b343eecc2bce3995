"""Rating in a real browser: an investigator deals the answers out, two raters label the
same answers (disagreeing once), a third person adjudicates, and the study page shows the
agreement between the raters and of the matcher against the adjudicated labels.

The answers and labels are tests/ratings/dataset.py's worked example, whose figures are
computed by hand there: 9 units (3 answers x 3 gold terms), 8 agreed; Cohen's kappa
30/39 = 0.77, Fleiss' kappa 0.77, Krippendorff's alpha 0.78; the matcher against the
adjudicated labels tp 3, fp 1, fn 1, tn 4: precision 0.75, recall 0.75, kappa 0.55.
"""

from __future__ import annotations

import pytest

from studyapp.ratings.models import Adjudication, Label
from tests.e2e.conftest import sign_in
from tests.factories import make_user
from tests.ratings.dataset import ARM_SECRETS, R1, R2, TEXTS, make_rated_study

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-password-for-the-ratings-test"
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def rated(transactional_db):
    users = {
        name: make_user(name, password=PASSWORD) for name in ("alice", "dave", "erin", "frank")
    }
    data = make_rated_study(
        investigator=users["alice"],
        rater1=users["dave"],
        rater2=users["erin"],
        adjudicator=users["frank"],
    )
    return data


def log_in(browser, base_url: str, username: str, next_path: str):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base_url, username, PASSWORD, next_path=next_path)
    return context, page


def label_queue(browser, base_url: str, username: str, marks: dict) -> None:
    context, page = log_in(browser, base_url, username, "/ratings/rated/")
    assert page.locator("#queue-progress").inner_text().startswith("0 of 3 labelled.")
    page.locator("#next-open").click()
    for _ in range(3):
        page.wait_for_selector("#label-form")
        text = page.locator("[data-answer]").inner_text().strip()
        name = next(n for n, t in TEXTS.items() if t == text)
        html = page.content()
        for secret in ARM_SECRETS:
            assert secret not in html
        conditions, flags = marks[name]
        for term in conditions:
            page.locator("#conditions-named").get_by_label(term, exact=True).check()
        for term in flags:
            page.locator("#red-flags-named").get_by_label(term, exact=True).check()
        page.get_by_role("button", name="Save label").click()
        page.wait_for_load_state()
    page.wait_for_url(f"{base_url}/ratings/rated/")
    assert page.locator("#queue-progress").inner_text().startswith("3 of 3 labelled.")
    context.close()


def test_two_raters_label_a_third_adjudicates_and_the_study_page_shows_agreement(
    live_asgi, browser, rated
):
    base_url = live_asgi.url

    # The investigator deals every answer out to both raters.
    context, page = log_in(browser, base_url, "alice", "/studies/rated/ratings/")
    form = page.locator("#new-round")
    form.get_by_label("Double-rated share (%)").fill("100")
    form.get_by_label("Seed").fill("7")
    form.get_by_role("button", name="Create the round").click()
    page.wait_for_selector(".flash")
    assert "Round 1: 3 items dealt out." in page.locator(".flash").inner_text()

    # Two raters label the same three answers; they disagree on A2's red flag.
    label_queue(browser, base_url, "dave", R1)
    label_queue(browser, base_url, "erin", R2)
    assert Label.objects.count() == 6

    # The adjudicator takes R1's label of the one disputed answer, saying why.
    adjudicator, adj = log_in(browser, base_url, "frank", "/ratings/rated/adjudication/")
    rows = adj.locator("#adjudication-queue tbody tr")
    assert rows.count() == 1
    rows.first.get_by_role("link").click()
    adj.wait_for_selector("#adjudication-form")
    assert adj.locator("[data-answer]").inner_text().strip() == TEXTS["A2"]
    assert adj.locator('[data-rater="R1"]').count() == 1
    adj.get_by_label("R1's label, as it is").check()
    adj.get_by_label("Reason (required: kept with the final label)").fill(
        "The answer does name a fever."
    )
    adj.get_by_role("button", name="Save the final label").click()
    adj.wait_for_selector("#adjudication-queue")
    assert "Nothing to adjudicate." in adj.locator("#adjudication-queue").inner_text()
    adjudicator.close()
    final = Adjudication.objects.get()
    assert (final.red_flags_named, final.adjudicator.user.username) == (["fever"], "frank")

    # The study page loads the Rating section with the figures computed by hand.
    page.goto(f"{base_url}/studies/rated/")
    section = page.locator("#rating-summary")
    section.locator("#agreement-answers").wait_for()
    answers = section.locator("#agreement-answers")

    def stat(row, name: str) -> str:
        return row.locator(f'[data-stat="{name}"]').inner_text()

    assert stat(answers, "units") == "9"
    assert stat(answers, "observed") == "89%"
    assert stat(answers, "cohen").startswith("0.77 (")
    assert stat(answers, "fleiss").startswith("0.77 (")
    assert stat(answers, "alpha").startswith("0.78 (")
    matcher = section.locator("#matcher-all")
    assert stat(matcher, "precision").startswith("0.75 (")
    assert stat(matcher, "recall").startswith("0.75 (")
    assert stat(matcher, "kappa").startswith("0.55")
    assert section.locator("#matcher-scenario-belly").count() == 1
    assert "1 adjudicated" in section.locator("#rating-items").inner_text()

    # Per gold term, on the details page.
    section.locator("#ratings-agreement-link").click()
    fever = page.locator('#terms tr[data-term="fever"]')
    fever.wait_for()
    assert stat(fever, "observed") == "67%"
    assert stat(fever, "precision").startswith("0.50 (")
    context.close()
