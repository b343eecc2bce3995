"""The preview in a real browser, at a desktop width and a phone's: the study page's form
opens the participant pages, each with the banner, without a CSP violation and without
sideways scrolling. With SCREENSHOT_DIR set, each page is saved there as a PNG."""

from __future__ import annotations

import pytest

from studyapp.participation.models import Participant
from studyapp.studies.models import Study
from tests.e2e.conftest import (  # noqa: F401 (fixtures)
    browser,
    fits_width,
    live_asgi,
    screenshot,
)
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_scenario,
    make_study,
    make_user,
)

pytestmark = pytest.mark.e2e

PASSWORD = "a-password-for-the-preview-test"
WIDTHS = (1280, 375)


def test_a_preview_of_a_draft_study_in_a_browser(live_asgi, browser):  # noqa: F811
    study = make_study("previewed", status=Study.Status.DRAFT, scenarios_per_participant=1)
    make_scenario(study, "belly")
    make_scenario(study, "back", level_code="self_care")
    make_llm_arm(study, make_endpoint(name="model-a"), key="llm")
    make_control_arm(study, key="ctl")
    owner = make_user("owner")
    owner.set_password(PASSWORD)
    owner.save()
    make_member(study, owner)

    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        page.goto(f"{live_asgi.url}/accounts/login/?next=/studies/previewed/")
        page.fill("input[name=login]", "owner")
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/studies/previewed/")
        page.select_option("#preview-arm", label="llm: Chat with an LLM")
        page.select_option("#preview-scenario", label="back v1: Scenario back")
        screenshot(page, f"preview-form-{width}")
        page.click("#preview-submit")
        page.wait_for_url("**/p/**")
        banner = page.locator("#preview-banner")
        assert "not recorded in results" in banner.inner_text()
        assert fits_width(page), "instructions"
        screenshot(page, f"preview-instructions-{width}")
        page.get_by_role("button", name="Start the first scenario").click()
        page.wait_for_selector("#preview-banner")
        assert "You are playing the part of someone (back)." in page.content()
        assert fits_width(page), "chat"
        screenshot(page, f"preview-chat-{width}")
        assert errors == []
        context.close()
    assert Participant.objects.filter(study=study, is_preview=True).count() == 2
    assert not Participant.objects.filter(study=study, is_preview=False).exists()
