"""The task page on a phone (375 by 667, chromium): the scenario is one tap away while
chatting and the chat keeps its place; one page scroll, the message box in reach; a reply
arriving while the scenario is shown is flagged; an error comes back focused and in view."""

from __future__ import annotations

import re

import pytest

from studyapp.participation.models import Answer
from tests.e2e.test_chat_phone import PHONE, SOCKET_HOOKS, last_reply_done
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study

pytestmark = pytest.mark.e2e

SITUATION = "You woke up with a sharp pain low on the right of your belly. " * 12


def scroll_y(page) -> float:
    return page.evaluate("window.scrollY")


def test_on_a_phone_the_scenario_is_a_tab_away_and_the_chat_keeps_its_place(
    live_asgi, browser, scripted
):
    scripted.configure(token_delay_s=0.002)
    study = make_study("tabs", scenarios_per_participant=1)
    make_scenario(
        study,
        "one",
        sections=[
            {"heading": "Your situation", "text": SITUATION},
            {"heading": "History", "text": "Nothing like this before."},
        ],
    )
    endpoint = make_endpoint(scripted.base_url, model="scripted-demo", timeout_s=5)
    make_llm_arm(study, endpoint, participant_label="Assistant", min_turns=1, max_turns=8)

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.add_init_script(SOCKET_HOOKS)
    try:
        page = context.new_page()
        page.goto(f"{live_asgi.url}/s/tabs/?PROLIFIC_PID=tabs-pid&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_role("button", name="I agree to take part").click()
        page.get_by_role("button", name="Start the first scenario").click()

        page.wait_for_selector("[data-tablist]:not([hidden])")
        scenario, chat = page.locator("#scenario-panel"), page.locator("#chat")
        scenario_tab = page.get_by_role("tab", name="Scenario")
        chat_tab = page.get_by_role("tab", name=re.compile("^Chat"))
        # The scenario comes first; the chat is one tap away.
        assert page.get_by_role("tab").all_inner_texts() == ["Scenario", "Chat"]
        assert scenario_tab.get_attribute("aria-selected") == "true"
        assert scenario.is_visible() and not chat.is_visible()
        go = page.get_by_role("button", name="Go to the chat")
        go.scroll_into_view_if_needed()  # it ends the scenario
        scenario_y = scroll_y(page)
        assert scenario_y > 0
        go.click()
        assert chat_tab.get_attribute("aria-selected") == "true"
        assert chat.is_visible() and not scenario.is_visible()
        assert page.evaluate("document.activeElement.id") == "tab-task"

        box = page.locator("[data-chat-input]")
        page.wait_for_selector("[data-chat-input]:not([disabled])")
        for i in range(3):
            box.fill(f"Question {i}: what is it? #long:90")
            box.press("Enter")
            last_reply_done(page, i + 1)

        # One scroll: the log grows with the page; the page follows the newest reply, with
        # the message box held at the bottom of the screen and the tabs at the top.
        log_style = page.evaluate(
            "getComputedStyle(document.querySelector('[data-chat-log]')).overflowY"
        )
        assert log_style == "visible"
        assert page.evaluate("document.documentElement.scrollHeight") > 2 * PHONE["height"]
        last = page.locator(".msg-assistant").last.bounding_box()
        form = page.locator("[data-chat-form]").bounding_box()
        assert last["y"] + last["height"] <= form["y"] + 1  # the newest reply is in view
        assert form["y"] + form["height"] <= PHONE["height"] + 1
        page.evaluate("window.scrollTo(0, 600)")
        assert abs(page.locator("[data-tablist]").bounding_box()["y"]) <= 1
        kept = scroll_y(page)

        # To the scenario and back: each is where it was left.
        scenario_tab.click()
        assert scenario.is_visible() and not chat.is_visible()
        assert abs(scroll_y(page) - scenario_y) <= 2
        chat_tab.click()
        assert abs(scroll_y(page) - kept) <= 2

        # A reply arriving while the scenario is shown marks the chat's tab. (The message is
        # held back, then resent when the socket comes back, as on a flaky network.)
        page.evaluate("window.__dropSends = true")
        box.fill("And one more question?")
        box.press("Enter")
        page.wait_for_selector(".msg-pending")
        scenario_tab.click()
        page.evaluate("window.__dropSends = false; window.__sockets.at(-1).close()")
        page.wait_for_selector("[data-tab-badge]:not([hidden])", timeout=10000)
        assert "new reply" in chat_tab.inner_text()
        chat_tab.click()
        assert page.locator("[data-tab-badge]").is_hidden()
        last_reply_done(page, 4)

        # A reload stays on the chat.
        page.reload()
        last_reply_done(page, 4)
        assert chat.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        page.locator("[data-chat-finish-button]").click()
        page.get_by_role("button", name="Yes, finish the chat").click()
        page.wait_for_selector("#answer-form")
        assert page.get_by_role("tab", name="Questions").get_attribute("aria-selected") == "true"

        # An answer the server refuses comes back with its message focused and in view.
        page.get_by_label("A&E").check()
        page.locator("#id_conditions_text").fill(" ;, - ")
        page.locator("#id_confidence").fill("60")
        page.get_by_role("button", name="Submit answer").click()
        page.wait_for_selector("[data-error-summary]")
        assert page.evaluate("document.activeElement.hasAttribute('data-error-summary')")
        summary = page.locator("[data-error-summary]").bounding_box()
        assert summary["y"] >= 0 and summary["y"] + summary["height"] <= PHONE["height"]
        assert page.locator("[data-tablist]").bounding_box()["y"] + 40 <= summary["y"] + 1
        # The scenario is still one tap away from the questions.
        page.get_by_role("tab", name="Scenario").click()
        assert page.locator("#scenario-panel").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()
    assert not Answer.objects.exists()
