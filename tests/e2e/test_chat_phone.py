"""The chat widget in a real browser on a phone-sized screen, against the real ASGI server
and the scripted model over HTTP: streaming, paste blocking, reload, retry, reconnect with
a resend, and Finish."""

from __future__ import annotations

import pytest

from studyapp.chat.models import Message
from studyapp.participation.models import Participant, Task
from tests.e2e.conftest import paste_is_refused
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 667}

# Lets the test drop outgoing frames and close the socket, as a flaky network would.
SOCKET_HOOKS = """
window.__sockets = [];
window.__dropSends = false;
const NativeWebSocket = window.WebSocket;
class TestWebSocket extends NativeWebSocket {
  constructor(url, protocols) { super(url, protocols); window.__sockets.push(this); }
  send(data) { if (!window.__dropSends) super.send(data); }
}
window.WebSocket = TestWebSocket;
"""


def last_reply_done(page, count: int) -> None:
    """Wait until `count` assistant messages are shown and none is still streaming."""
    page.wait_for_function(
        """n => document.querySelectorAll('.msg-assistant').length === n
             && !document.querySelector('.msg-streaming')""",
        arg=count,
        timeout=10000,
    )


def test_a_participant_chats_reloads_retries_reconnects_and_finishes(
    live_asgi,
    browser,
    scripted,
):
    scripted.configure(token_delay_s=0.01)
    study = make_study("chat-e2e", scenarios_per_participant=1)
    make_scenario(study, "one")
    endpoint = make_endpoint(scripted.base_url, model="scripted-demo", timeout_s=5)
    make_llm_arm(study, endpoint, participant_label="Assistant", min_turns=1, max_turns=5)

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.add_init_script(SOCKET_HOOKS)
    try:
        page = context.new_page()
        page.goto(f"{live_asgi.url}/s/chat-e2e/?PROLIFIC_PID=chat-pid&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_role("button", name="I agree to take part").click()
        page.get_by_role("button", name="Start the first scenario").click()
        # On a phone the scenario comes first; the chat is its other tab.
        page.get_by_role("button", name="Go to the chat").click()
        page.wait_for_selector("text=No messages yet")
        assert page.locator(".scripted-badge").inner_text() == "Scripted demo model — not an AI"
        finish = page.locator("[data-chat-finish-button]")
        assert finish.is_disabled()

        box = page.locator("[data-chat-input]")
        assert paste_is_refused(page, "[data-chat-input]")
        assert "Pasting is turned off" in page.locator("[data-chat-status]").inner_text()

        # Send with Enter; Shift+Enter makes a new line instead.
        box.type("My <b>stomach</b> hurts")
        box.press("Shift+Enter")
        box.type("since this morning")
        assert page.locator("[data-chat-chars]").inner_text().startswith("42 /")
        box.press("Enter")
        page.wait_for_selector(".msg-user")
        assert page.locator("[data-chat-send]").is_disabled()
        last_reply_done(page, 1)
        reply = page.locator(".msg-assistant .msg-body").first.inner_text()
        assert reply.startswith("[Scripted demo model — not an AI]")
        assert 'beginning "My <b>stomach</b> hurts since this morning"' in reply
        assert page.locator(".msg-user .msg-body").inner_text() == (
            "My <b>stomach</b> hurts\nsince this morning"
        )
        assert page.locator("[data-chat-turns]").inner_text() == "1 of 5 messages used"
        assert finish.is_enabled()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        # A reload shows the stored history once.
        page.reload()
        last_reply_done(page, 1)
        assert page.locator(".msg").count() == 2

        # A model failure is shown, and Retry answers the same message.
        scripted.configure(fail_status=503)
        box.type("and now?")
        box.press("Enter")
        page.wait_for_selector(".msg-error")
        assert "not available right now" in page.locator("[data-chat-status]").inner_text()
        retry = page.locator("[data-chat-retry]")
        assert retry.is_visible()
        scripted.configure(fail_status=None)
        retry.click()
        last_reply_done(page, 3)
        assert page.locator(".msg-error").count() == 1  # the failed attempt stays visible
        assert not retry.is_visible()

        # The socket drops after a message left but before it reached the server: after the
        # reconnect the page resends it with the same id, and it is stored once.
        page.evaluate("window.__dropSends = true")
        box.type("lost on the way")
        box.press("Enter")
        page.wait_for_selector(".msg-pending")
        page.evaluate("window.__dropSends = false; window.__sockets.at(-1).close()")
        last_reply_done(page, 4)
        assert page.locator(".msg-pending").count() == 0

        # Finishing cannot be undone: it asks first, and "Keep chatting" goes back.
        finish.click()
        confirm = page.locator("[data-chat-finish] [data-confirm-box]")
        assert confirm.is_visible() and not finish.is_visible()
        assert page.evaluate("document.activeElement.hasAttribute('data-confirm-yes')")
        page.get_by_role("button", name="Keep chatting").click()
        assert not confirm.is_visible() and finish.is_visible()
        assert page.locator("#answer-form").count() == 0
        finish.click()
        page.get_by_role("button", name="Yes, finish the chat").click()
        page.wait_for_selector("#answer-form")
    finally:
        context.close()

    participant = Participant.objects.get(prolific_pid="chat-pid")
    task = Task.objects.get(participant=participant)
    assert task.status == Task.Status.ANSWERING
    users = Message.objects.filter(conversation__task=task, role="user").order_by("sequence")
    assert [m.text for m in users] == [
        "My <b>stomach</b> hurts\nsince this morning",
        "and now?",
        "lost on the way",
    ]
    statuses = list(
        Message.objects.filter(conversation__task=task, role="assistant")
        .order_by("sequence")
        .values_list("status", flat=True)
    )
    assert statuses == ["complete", "error", "complete", "complete"]
