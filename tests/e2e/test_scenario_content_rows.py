"""The scenario page's key fact and rubric rows in a real browser at 1280 and 375 px: a row
added (htmx), refused beside its field, then saved. No sideways scroll, nothing serious for
axe; SCREENSHOT_DIR keeps the screenshots."""

from __future__ import annotations

import pytest

from studyapp.studies.models import Study
from tests.e2e.axe import audit, blocking, describe
from tests.e2e.conftest import fits_width, screenshot, sign_in
from tests.factories import make_member, make_scenario, make_study, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-password-for-the-e2e-test"
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 375, "height": 740}}
FACTS = [{"key": "on-apixaban", "text": "Takes apixaban.", "patterns": ["apixaban"]}]
RUBRIC = [{"key": "advises-ae", "text": "Advises A&E.", "points": 2, "applies_to": "model"}]


@pytest.fixture
def draft(live_asgi):
    user = make_user("alice", password=PASSWORD)
    study = make_study("draft", status=Study.Status.DRAFT, title="Draft study")
    make_member(study, user)
    make_scenario(study, "s1", key_facts=FACTS, rubric=RUBRIC)
    return study


@pytest.mark.parametrize("size", list(SIZES))
def test_rows_are_added_refused_beside_their_field_and_saved(live_asgi, browser, draft, size):
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    sign_in(page, live_asgi.url, "alice", PASSWORD)
    scenario = draft.scenarios.get()
    page.goto(f"{live_asgi.url}/studies/{draft.slug}/scenarios/{scenario.pk}/")
    assert page.is_visible("#key-facts-help") and page.is_visible("#rubric-help")
    page.click("#fact-add")
    page.wait_for_selector("#fact-text-1")
    page.click("#rubric-add")
    page.wait_for_selector("#rubric-text-1")
    page.fill("#fact-text-1", "She is pregnant.")
    page.fill("#rubric-text-1", "Reassures her it is nothing.")
    page.fill("#rubric-points-1", "0")
    page.click("#scenario-save")
    page.wait_for_selector("#fact-patterns-1-error")
    assert page.is_visible("#rubric-points-1-error")
    screenshot(page, f"scenario-content-refused-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)
    scenario.refresh_from_db()
    assert (scenario.key_facts, scenario.rubric) == (FACTS, RUBRIC)
    page.fill("#fact-patterns-1", "pregnant\nexpecting")
    page.fill("#rubric-points-1", "-3")
    page.click("#scenario-save")
    page.wait_for_selector("text=Scenario s1 saved.")
    scenario.refresh_from_db()
    assert scenario.key_facts == [
        *FACTS,
        {
            "key": "she-is-pregnant",
            "text": "She is pregnant.",
            "patterns": ["pregnant", "expecting"],
        },
    ]
    assert scenario.rubric == [
        *RUBRIC,
        {
            "key": "reassures-her-it-is-nothing",
            "text": "Reassures her it is nothing.",
            "points": -3,
            "applies_to": "model",
        },
    ]
    context.close()
