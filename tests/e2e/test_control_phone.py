"""The control-arm flow in a real browser on a phone-sized screen (375 by 667)."""

from __future__ import annotations

import pytest

from studyapp.participation.models import Answer, Participant
from tests.e2e.conftest import paste_is_refused
from tests.factories import make_control_arm, make_scenario, make_study

pytestmark = pytest.mark.e2e


PHONE = {"width": 375, "height": 667}
LONG_WORD = "Supercalifragilisticexpialidocious" * 3


def assert_fits_the_screen(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide"


def test_a_participant_completes_the_control_flow_on_a_phone(live_asgi, browser):
    study = make_study("phone", completion_code="PHONE123")
    for key in ("one", "two"):
        make_scenario(
            study,
            key,
            sections=[
                {"heading": "Your situation", "text": f"You are playing someone ({key})."},
                {"heading": "History", "text": f"A long unbroken word: {LONG_WORD}."},
            ],
        )
    make_control_arm(study)

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{live_asgi.url}/s/phone/?PROLIFIC_PID=phone-pid&STUDY_ID=s1&SESSION_ID=x1")
        page.get_by_role("button", name="Start", exact=True).click()
        assert page.locator("h1").inner_text() == "Before you start"
        assert_fits_the_screen(page)
        page.get_by_role("button", name="I agree to take part").click()
        page.wait_for_selector("text=Instructions")
        assert_fits_the_screen(page)
        page.get_by_role("button", name="Start the first scenario").click()

        for position in (1, 2):
            # The scenario first; the sources box one tap away (tabs on a phone).
            page.wait_for_selector("[data-tablist]:not([hidden])")
            assert f"Scenario {position} of 2" in page.content()
            assert page.locator("#scenario-panel").is_visible()
            assert not page.locator("#sources-form").is_visible()
            assert_fits_the_screen(page)
            page.get_by_role("button", name="Go to your sources").click()
            page.wait_for_selector("#sources-form")
            assert not page.locator("#scenario-panel").is_visible()

            box = page.locator("#id_sources_text")
            assert paste_is_refused(page, "#id_sources_text")
            assert "paste-refused" in page.locator("#sources-paste-note").get_attribute("class")

            if position == 1:
                page.reload()  # a reload resumes the same step
                page.wait_for_selector("#sources-form")
            box.fill("NHS website")
            page.get_by_role("button", name="Continue to the questions").click()

            page.wait_for_selector("#answer-form")
            assert_fits_the_screen(page)
            # The scenario stays one tap away from the questions.
            page.get_by_role("tab", name="Scenario").click()
            assert page.locator("#scenario-panel").is_visible()
            page.get_by_role("tab", name="Questions").click()
            assert page.locator("#answer-form").is_visible()
            page.get_by_label("A&E").check()
            page.locator("#id_conditions_text").fill("appendicitis\nectopic pregnancy")
            # Confidence starts unset: no thumb on the slider, an empty box, and the form
            # cannot be sent until it is set.
            slider = page.locator("[data-confidence-slider]")
            number = page.locator("#id_confidence")
            assert "slider-unset" in slider.get_attribute("class")
            assert number.input_value() == ""
            if position == 1:
                page.get_by_role("button", name="Submit answer").click()
                assert page.evaluate("document.activeElement.id") == "id_confidence"
                # With the keyboard alone, on the slider.
                slider.focus()
                slider.press("End")
                for _ in range(20):
                    slider.press("ArrowLeft")
                assert number.input_value() == "80"
            else:
                number.fill("80")
                assert slider.input_value() == "80"
            assert "slider-unset" not in slider.get_attribute("class")
            assert slider.get_attribute("aria-valuetext") == "80 out of 100"
            page.get_by_role("button", name="Submit answer").click()

        page.wait_for_selector("#completion-code")
        assert page.locator("#completion-code").inner_text() == "PHONE123"
        assert_fits_the_screen(page)
    finally:
        context.close()

    participant = Participant.objects.get(study=study, prolific_pid="phone-pid")
    assert participant.status == Participant.Status.COMPLETED
    answers = Answer.objects.filter(task__participant=participant).order_by("task__position")
    assert [(a.confidence, a.confidence_set) for a in answers] == [(80, True), (80, True)]
    assert answers[0].conditions == ["appendicitis", "ectopic pregnancy"]
