"""The information-transfer section in a real browser: htmx loads it after the dashboard
(under the page's Content-Security-Policy), plotly draws its curve, and the blinded
filter reloads it blinded."""

from __future__ import annotations

import pytest

from studyapp.analysis import services
from tests.analysis.scored import ARM_SECRETS
from tests.e2e.conftest import browser, live_asgi  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

PASSWORD = "a-password-for-the-information-test"


def test_the_section_loads_draws_and_blinds_in_a_browser(
    live_asgi,  # noqa: F811
    browser,  # noqa: F811
    alice,
    informed,
):
    services.conversation_scores_refresh(study=informed.study)
    alice.set_password(PASSWORD)
    alice.save()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_asgi.url}/accounts/login/?next=/studies/beta/analysis/")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/studies/beta/analysis/")
    page.wait_for_selector("#information-transfer table.information-chain", timeout=20000)
    page.wait_for_selector("#information-turns-card .main-svg", timeout=20000)
    section = page.locator("#information-transfer").inner_text()
    assert "gptarmzq" in section
    assert "16.7%" in section  # key facts told, mean
    assert "He lifted a heavy box." in section  # never told

    page.get_by_label("Blinded: arms as A, B, C").check()
    page.wait_for_selector("#dashboard-results.is-blinded", timeout=10000)
    page.wait_for_selector("#information-transfer table.information-chain", timeout=20000)
    page.wait_for_selector("#information-turns-card .main-svg", timeout=20000)
    html = page.content()
    for secret in ARM_SECRETS:
        assert secret not in html
    assert errors == []  # (the browser fixture fails the test on any CSP violation)
    context.close()
