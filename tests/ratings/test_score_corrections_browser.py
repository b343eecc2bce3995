"""A rater corrects their item's automatic score in a real browser, at a desktop width and
a phone's: the form swaps itself in place (htmx) without a CSP violation, a too short
reason is held back, the page does not scroll sideways, and no arm or model shows.
With SCREENSHOT_DIR set, each view is saved there as a PNG to look at."""

from __future__ import annotations

import pytest

from studyapp.analysis.models import ScoreCorrection
from studyapp.ratings.services.rounds import round_create
from tests.e2e.conftest import (  # noqa: F401 (fixtures)
    browser,
    fits_width,
    live_asgi,
    screenshot,
    sign_in,
)
from tests.factories import make_user
from tests.ratings.conftest import PASSWORD
from tests.ratings.dataset import ARM_SECRETS, make_rated_study
from tests.ratings.test_score_corrections import labelled

pytestmark = pytest.mark.e2e

WIDTHS = (1280, 375)
REASON = "Says 'appendix might be inflamed': that is appendicitis <i>in plain words</i>"


def test_a_rater_corrects_a_score_in_a_browser(live_asgi, browser):  # noqa: F811
    alice = make_user("alice")
    rated = make_rated_study(
        investigator=alice,
        rater1=make_user("dave"),
        rater2=make_user("erin"),
        adjudicator=make_user("frank"),
    )
    round_create(study=rated.study, name="R", created_by=alice, double_share=0, seed=11)
    own = labelled(rated)
    rater = own.rater.user
    assert rater.check_password(PASSWORD)
    path = f"/ratings/rated/items/{own.position}/"

    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        sign_in(page, live_asgi.url, rater.get_username(), PASSWORD, next_path=path)
        page.wait_for_selector("#score-correction")
        assert page.inner_text("#score-automatic") == "no"
        page.click("#score-correction summary")
        if width == WIDTHS[0]:
            page.check("#score-correction input[value=yes]")
            # Too short: the browser holds it back (required, minlength); the server's own
            # refusal, beside the field, is tests/ratings/test_score_corrections.py's.
            page.fill("#score-correction textarea[name=reason]", "wrong")
            page.click("#score-correction button[type=submit]")
            assert page.locator("#score-correction textarea[name=reason]:invalid").count() == 1
            assert not ScoreCorrection.objects.exists()
            page.fill("#score-correction textarea[name=reason]", REASON)
            with page.expect_response(f"**{path}score/"):
                page.click("#score-correction button[type=submit]")
            page.wait_for_selector("#own-corrections")
            assert "<i>in plain words</i>" in page.inner_text("#own-corrections")
            assert page.inner_text("#score-current") == "yes (corrected by hand)"
            assert ScoreCorrection.objects.get().corrector_role == "rater"
        html = page.content()
        assert not any(secret in html for secret in ARM_SECRETS)
        assert "alice" not in html
        assert fits_width(page), f"the item page scrolls sideways at {width} px"
        assert errors == []
        screenshot(page, f"rater-score-correction-{width}")
        context.close()
