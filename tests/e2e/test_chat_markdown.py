"""Replies render as sanitized markdown in a real browser, while they stream and from the
stored history, and nothing a model or a participant types runs as script."""

from __future__ import annotations

import pytest

from studyapp.chat.models import Message
from studyapp.chat.rendering import render_markdown
from tests.e2e.test_chat_phone import PHONE, last_reply_done
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study

pytestmark = pytest.mark.e2e

# What the scripted model answers to a message containing "table please": markdown, and
# every way we know of to make a page run script.
MARKDOWN_REPLY = """**Call 999 now.**

| Sign | What to do |
|------|-----------:|
| Chest pain | Call *999* |
| Mild cough | See a GP |

- rest
- drink water

Read [the NHS page](https://www.nhs.uk/) first.

<script>window.__xss = "model script"</script>
<img src=x onerror="window.__xss = 'model img'">
[click me](javascript:window.__xss='model link')
[data link](data:text/html,<script>alert(1)</script>)
![pixel](data:image/png;base64,iVBORw0KGgo=)
<svg onload="window.__xss = 'model svg'"></svg>
<a href="javascript:alert(1)">raw link</a>
"""

PARTICIPANT_XSS = (
    "table please <img src=x onerror=\"window.__xss='participant img'\">"
    " <script>window.__xss='participant script'</script> **not bold**"
)


def test_markdown_replies_render_and_no_payload_runs(live_asgi, browser, scripted):
    scripted.configure(token_delay_s=0.01, keyed_replies=[["table please", MARKDOWN_REPLY]])
    study = make_study("md-e2e", scenarios_per_participant=1)
    make_scenario(study, "one")
    endpoint = make_endpoint(scripted.base_url, model="scripted-demo", timeout_s=5)
    make_llm_arm(study, endpoint, participant_label="Assistant", min_turns=1, max_turns=5)

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    dialogs: list[str] = []
    try:
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{live_asgi.url}/s/md-e2e/?PROLIFIC_PID=md-pid&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_role("button", name="I agree to take part").click()
        page.get_by_role("button", name="Start the first scenario").click()
        # On a phone the scenario comes first; the chat is its other tab.
        page.get_by_role("button", name="Go to the chat").click()
        page.wait_for_selector("[data-chat-input]:not([disabled])")

        box = page.locator("[data-chat-input]")
        box.fill(PARTICIPANT_XSS)
        box.press("Enter")
        # While it streams, the text so far is already markdown (the bold line comes first).
        page.wait_for_selector(".msg-streaming .msg-body strong", timeout=10000)
        last_reply_done(page, 1)

        def check_rendered() -> None:
            reply = page.locator(".msg-assistant .msg-body")
            assert reply.locator("strong").first.inner_text() == "Call 999 now."
            assert reply.locator("table th").all_inner_texts() == ["Sign", "What to do"]
            assert reply.locator("table td").count() == 4
            # A right-aligned column (|---:|) stays right-aligned: by a class, no style.
            assert reply.locator("td.align-right").count() == 2
            assert reply.locator("th.align-right").inner_text() == "What to do"
            assert reply.locator("[style]").count() == 0
            assert (
                reply.locator("td.align-right").first.evaluate(
                    "el => getComputedStyle(el).textAlign"
                )
                == "right"
            )
            assert reply.locator("td:not([class])").first.evaluate(
                "el => getComputedStyle(el).textAlign"
            ) in ("left", "start")
            assert reply.locator("table em").inner_text() == "999"
            assert reply.locator("ul li").all_inner_texts() == ["rest", "drink water"]
            assert "**" not in reply.inner_text()
            links = reply.locator("a")
            assert links.count() == 1
            assert links.get_attribute("href") == "https://www.nhs.uk/"
            assert links.get_attribute("target") == "_blank"
            assert links.get_attribute("rel") == "noopener noreferrer nofollow"
            # The payloads are shown as the text they are, never as elements.
            assert page.locator(".chat-log img, .chat-log script, .chat-log svg").count() == 0
            assert "<script>" in reply.inner_text()
            assert "[click me](javascript:" in reply.inner_text()
            own = page.locator(".msg-user .msg-body")
            assert own.inner_text() == PARTICIPANT_XSS
            assert own.locator("*").count() == 0
            assert page.evaluate("window.__xss") is None
            assert dialogs == []
            # The browser's rendering is the server's (the transcript page's), node for node.
            server_html = str(render_markdown(MARKDOWN_REPLY))
            shown = page.evaluate(
                """html => {
                  const server = document.createElement('div');
                  server.innerHTML = html;  // parsed by the browser, as the shown reply was
                  return [server.innerHTML,
                          document.querySelector('.msg-assistant .msg-body').innerHTML];
                }""",
                server_html,
            )
            assert shown[0] == shown[1]

        check_rendered()
        # The stored history renders the same after a reload.
        page.reload()
        last_reply_done(page, 1)
        check_rendered()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()
        scripted.configure(keyed_replies=[])

    stored = Message.objects.get(role=Message.Role.ASSISTANT)
    assert stored.text == MARKDOWN_REPLY.rstrip() or stored.text == MARKDOWN_REPLY
    user = Message.objects.get(role=Message.Role.USER)
    assert user.text == PARTICIPANT_XSS
