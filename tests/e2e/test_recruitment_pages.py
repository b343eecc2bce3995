"""The builder's recruitment pages in a real browser, at 1280 and 375 px: allocation and
quotas, screening and check (its rows added by htmx, a refused save shown beside the
option, then saved), Prolific. No sideways scroll, no CSP violation, nothing serious for
axe (refused forms included); SCREENSHOT_DIR
keeps the screenshots to look at."""

from __future__ import annotations

import pytest

from studyapp.studies.models import Study
from tests.e2e.axe import audit, blocking, describe
from tests.e2e.conftest import fits_width, screenshot, sign_in
from tests.factories import (
    make_control_arm,
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
def draft(live_asgi):
    user = make_user("alice", password=PASSWORD)
    study = make_study("draft", status=Study.Status.DRAFT, title="Draft study")
    make_member(study, user)
    make_control_arm(study, key="a", weight=2)
    make_control_arm(study, key="b")
    make_scenario(study, "s1")
    return study


def sign_in_as_alice(page, base_url: str) -> None:
    sign_in(page, base_url, "alice", PASSWORD)


@pytest.mark.parametrize("size", list(SIZES))
def test_the_recruitment_pages_work_at_each_width(live_asgi, browser, draft, size):
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    sign_in_as_alice(page, live_asgi.url)
    base = f"{live_asgi.url}/studies/{draft.slug}"

    page.goto(f"{base}/allocation/")
    page.fill("#id_allocation_block_sizes", "3, 5")
    page.click("#allocation-save")
    page.wait_for_selector("#id_allocation_block_sizes-error")
    assert "weight total, 3: 5 is not" in page.inner_text("#id_allocation_block_sizes-error")
    screenshot(page, f"allocation-refused-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)

    page.goto(f"{base}/screening/")
    page.fill("#id_screening_question", "Where do you live?")
    page.click("#screening-add")  # htmx: the form comes back with a row
    page.wait_for_selector("#screening-label-0")
    page.click("#screening-add")
    page.wait_for_selector("#screening-label-1")
    page.fill("#screening-label-0", "In the UK")
    page.fill("#screening-label-1", "Elsewhere")
    page.fill("#screening-value-1", "elsewhere")
    page.uncheck("input[name=screening_eligible][value='1']")
    page.fill("#screening-value-0", "elsewhere")  # a clash, refused beside the row
    page.click("#screening-save")
    page.wait_for_selector("#screening-1-error")
    screenshot(page, f"screening-refused-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)
    page.fill("#screening-value-0", "uk")
    page.click("#check-add")
    page.wait_for_selector("#check-option-0")
    page.click("#check-add")
    page.wait_for_selector("#check-option-1")
    page.fill("#id_check_question", "Choose “Blue”.")
    page.fill("#check-option-0", "Red")
    page.fill("#check-option-1", "Blue")
    page.check("input[name=check_correct][value='1']")
    page.click("#screening-save")
    page.wait_for_selector(".flash li")
    screenshot(page, f"screening-saved-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)
    draft.refresh_from_db()
    assert [o["value"] for o in draft.screening_options] == ["uk", "elsewhere"]
    assert [o["eligible"] for o in draft.screening_options] == [True, False]
    assert draft.check_answer == "Blue"

    page.goto(f"{base}/prolific/settings/")
    page.fill("#id_completion_code", "C1OK")
    page.fill("#id_code_screened_out", "c1ok")
    page.click("#prolific-save")
    page.wait_for_selector("#id_code_screened_out-error")
    screenshot(page, f"prolific-refused-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)

    # Someone entered: the design is shown read-only, with the reason.
    make_participant(draft)
    for name, notice in (("allocation", "#allocation-fixed"), ("screening", "#screening-fixed")):
        page.goto(f"{base}/{name}/")
        assert page.is_visible(notice)
        screenshot(page, f"{name}-fixed-{size}")
        assert fits_width(page)
        assert not blocking(found := audit(page)), describe(page.url, found)
    assert page.is_visible("#screening-options-fixed")
    context.close()
