"""The arm page once participants entered, in a real browser at 1280 and 375 px: the rule
on blinding terms said beside the field, a removed term refused beside it, a term added
saved. No sideways scroll, nothing serious for axe; SCREENSHOT_DIR keeps the screenshots."""

from __future__ import annotations

import pytest

from studyapp.studies.models import Study
from tests.e2e.axe import audit, blocking, describe
from tests.e2e.conftest import fits_width, screenshot, sign_in
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-password-for-the-e2e-test"
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 375, "height": 740}}


@pytest.fixture
def live(live_asgi):
    user = make_user("alice", password=PASSWORD)
    study = make_study("running", status=Study.Status.LIVE, title="Running study")
    make_member(study, user)
    arm = make_llm_arm(study, make_endpoint(), key="llama", blinding_terms=["Llama", "Meta AI"])
    make_scenario(study, "s1")
    make_participant(study, arm=arm)
    return study


@pytest.mark.parametrize("size", list(SIZES))
def test_a_removed_term_is_refused_beside_the_field_at_each_width(live_asgi, browser, live, size):
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    sign_in(page, live_asgi.url, "alice", PASSWORD)
    arm = live.arms.get()
    page.goto(f"{live_asgi.url}/studies/{live.slug}/arms/{arm.pk}/")
    assert page.is_visible("text=terms may be added, or their spelling corrected, but none")
    page.fill("#id_blinding_terms", "Llama")
    page.click("#arm-form button[type=submit]")
    page.wait_for_selector("#id_blinding_terms-error")
    screenshot(page, f"arm-terms-refused-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)
    arm.refresh_from_db()
    assert arm.blinding_terms == ["Llama", "Meta AI"]
    page.fill("#id_blinding_terms", "Llama\nMeta AI\nLlama 3")
    page.click("#arm-form button[type=submit]")
    page.wait_for_selector("text=Arm llama saved.")
    arm.refresh_from_db()
    assert arm.blinding_terms == ["Llama", "Meta AI", "Llama 3"]
    context.close()
