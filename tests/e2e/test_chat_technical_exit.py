"""The technical-problem exit in a real browser: the scripted model fails three times in a
row (the first reply and two "Try again"), the page offers "Leave the study: technical
problem", which asks first in place (cancelled once, with the keyboard), and the
participant leaves with the keyboard and sees the study's code for it."""

from __future__ import annotations

import pytest

from studyapp.chat.models import Message
from studyapp.participation.models import Participant, ParticipantEvent
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study

pytestmark = pytest.mark.e2e


def failures_shown(page, n: int) -> None:
    page.wait_for_function(
        """n => document.querySelectorAll('.msg-error').length === n
             && !document.querySelector('.msg-streaming')""",
        arg=n,
        timeout=10000,
    )


def test_after_three_failures_the_participant_leaves_with_the_technical_code(
    live_asgi, browser, scripted
):
    study = make_study(
        "tech-e2e",
        scenarios_per_participant=1,
        code_technical_problem="TECH-CODE-7",
        technical_exit_after=3,
    )
    make_scenario(study, "one")
    endpoint = make_endpoint(scripted.base_url, model="scripted-demo", timeout_s=5)
    make_llm_arm(study, endpoint, participant_label="Assistant", min_turns=1, max_turns=5)
    scripted.configure(fail_status=500)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_asgi.url}/s/tech-e2e/?PROLIFIC_PID=tech-pid&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_role("button", name="I agree to take part").click()
        page.get_by_role("button", name="Start the first scenario").click()
        page.wait_for_selector("text=No messages yet")

        leave = page.get_by_role("button", name="Leave the study: technical problem")
        retry = page.locator("[data-chat-retry]")
        box = page.locator("[data-chat-input]")
        box.type("My chest feels tight")
        box.press("Enter")
        failures_shown(page, 1)
        assert retry.is_visible() and not leave.is_visible()
        retry.click()
        failures_shown(page, 2)
        assert retry.is_visible() and not leave.is_visible()
        retry.click()
        failures_shown(page, 3)

        # Offered beside "Try again", with what it means; still free to try again.
        leave.wait_for(state="visible")
        assert retry.is_visible()
        note = page.locator("[data-chat-technical-exit] > p").inner_text()
        assert "you will get a completion code" in note
        assert "leave the study below" in page.locator("[data-chat-status]").inner_text()
        # A reload offers it again (from the history frame).
        page.reload()
        leave.wait_for(state="visible")

        # Keyboard: focus the button and press Enter: it asks first, in place (no dialog),
        # with the focus on the answer; Escape goes back to the button, and so does "Stay".
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        confirm = page.locator("[data-chat-technical-exit] [data-confirm-box]")
        yes = page.get_by_role("button", name="Yes, leave the study")
        stay = page.get_by_role("button", name="Stay in the study")

        def focused(attribute: str) -> bool:
            return page.evaluate(f"document.activeElement.hasAttribute('{attribute}')")

        leave.focus()
        assert focused("data-chat-technical-exit-button")
        assert leave.get_attribute("aria-expanded") == "false"
        page.keyboard.press("Enter")
        confirm.wait_for(state="visible")
        assert not leave.is_visible() and yes.is_visible() and stay.is_visible()
        assert "cannot come back" in confirm.inner_text()
        assert focused("data-confirm-yes")
        page.keyboard.press("Escape")
        confirm.wait_for(state="hidden")
        assert leave.is_visible() and focused("data-chat-technical-exit-button")
        # Cancelled: still in the chat, free to try again.
        leave.click()
        confirm.wait_for(state="visible")
        # (Hidden while it asks, so out of the accessibility tree: found by its attribute.)
        exit_button = page.locator("[data-chat-technical-exit-button]")
        assert exit_button.get_attribute("aria-expanded") == "true"
        stay.click()
        confirm.wait_for(state="hidden")
        assert leave.is_visible() and retry.is_visible()
        assert focused("data-chat-technical-exit-button")
        assert page.locator("#completion-code").count() == 0
        assert Participant.objects.get(prolific_pid="tech-pid").status == (
            Participant.Status.CONSENTED
        )
        # Now through: Enter opens the question, Enter on "Yes" (focused) leaves (a real
        # form POST).
        page.keyboard.press("Enter")
        confirm.wait_for(state="visible")
        assert focused("data-confirm-yes")
        page.keyboard.press("Enter")
        page.wait_for_selector("#completion-code")
        assert dialogs == []
        assert page.locator("#completion-code").inner_text() == "TECH-CODE-7"
        assert page.locator("#ended").get_attribute("data-outcome") == "technical_problem"
        assert "technical problem" in page.locator("#ended").inner_text()
    finally:
        context.close()

    participant = Participant.objects.get(prolific_pid="tech-pid")
    assert participant.status == Participant.Status.TECHNICAL_PROBLEM
    assert ParticipantEvent.objects.filter(
        participant=participant, kind="technical_problem"
    ).exists()
    statuses = list(
        Message.objects.filter(conversation__task__participant=participant, role="assistant")
        .order_by("sequence")
        .values_list("status", flat=True)
    )
    assert statuses == ["error", "error", "error"]
