"""A questionnaire in a real browser on a phone (375 by 667): the conditional item shows
and hides as the answer changes, without a reload, and the page fits the screen."""

from __future__ import annotations

import pytest

from studyapp.questionnaires.models import ItemAnswer
from tests.factories import make_control_arm, make_scenario, make_study
from tests.questionnaires.conftest import add_baseline

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 667}


def test_a_conditional_item_follows_the_answer_it_depends_on(live_asgi, browser):
    study = make_study("q-phone")
    for key in ("one", "two"):
        make_scenario(study, key)
    make_control_arm(study)
    add_baseline(study)

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{live_asgi.url}/s/q-phone/")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_role("button", name="I agree to take part").click()
        page.wait_for_selector("#questionnaire-form")
        url = page.url
        how_often = page.locator("#item-how_often")
        assert not how_often.is_visible()
        page.get_by_label("Yes").check()
        assert how_often.is_visible()
        page.get_by_label("No").check()
        assert not how_often.is_visible()
        page.get_by_label("Yes").check()
        page.locator("#item-how_often").get_by_text("4", exact=True).click()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the questionnaire is {width}px wide"
        assert page.url == url  # no reload on the way
        # Changing the mind hides the item again, and its answer is not sent.
        page.get_by_label("No").check()
        page.get_by_label("Your age").fill("44")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_selector("text=Instructions")
        assert errors == []
    finally:
        context.close()
    keys = set(ItemAnswer.objects.values_list("item__key", flat=True))
    assert keys == {"uses_llm", "age"}
