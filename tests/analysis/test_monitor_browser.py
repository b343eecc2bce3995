"""The live monitor and the paused study's holding page in a real browser, at a desktop
width and a phone's: the monitor polls itself (htmx) without a CSP violation, neither page
scrolls sideways, and nobody's text is shown. With SCREENSHOT_DIR set, each view is saved
there as a PNG to look at."""

from __future__ import annotations

import pytest

from studyapp.chat.models import Message
from studyapp.studies.pausing import study_pause
from tests.analysis.test_monitor import SECRET, chatting, enter, reply
from tests.e2e.conftest import (  # noqa: F401 (fixtures)
    browser,
    fits_width,
    live_asgi,
    screenshot,
)
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study, make_user

pytestmark = pytest.mark.e2e

PASSWORD = "a-password-for-the-monitor-test"
WIDTHS = (1280, 375)


def test_the_monitor_and_the_holding_page_in_a_browser(live_asgi, browser):  # noqa: F811
    study = make_study("watched", scenarios_per_participant=1, prolific_study_id="st-9")
    make_scenario(study, "s1")
    make_llm_arm(study, make_endpoint(name="model-a"), key="llm")
    enter(study)
    busy, failing, _idle = chatting(study), chatting(study), chatting(study)
    reply(busy, 1, Message.Status.STREAMING)
    reply(failing, 1, Message.Status.ERROR, error=f"timeout (HTTP 504): {SECRET}")
    root = make_user("root", superuser=True)
    root.set_password(PASSWORD)
    root.save()

    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        page.goto(f"{live_asgi.url}/accounts/login/?next=/studies/watched/monitor/")
        page.fill("input[name=login]", "root")
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/studies/watched/monitor/")
        # The live block replaces itself from the server every few seconds.
        with page.expect_response("**/studies/watched/monitor/live/", timeout=15000):
            pass
        page.wait_for_selector("#monitor-live #monitor-states")
        assert page.inner_text("#monitor-active-total") == "4"
        assert page.inner_text("#monitor-streaming") == "1"
        assert SECRET not in page.content()
        assert fits_width(page), f"the monitor scrolls sideways at {width} px"
        assert errors == []
        screenshot(page, f"monitor-{width}")
        context.close()

    study_pause(study_id=study.pk, user=root)
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        page.goto(f"{live_asgi.url}/s/watched/?PROLIFIC_PID=abc123&STUDY_ID=st-9&SESSION_ID=s1")
        assert page.inner_text("h1") == "This study is paused for a little while"
        assert page.is_visible("#paused-prolific")
        assert fits_width(page), f"the holding page scrolls sideways at {width} px"
        screenshot(page, f"paused-{width}")
        context.close()
