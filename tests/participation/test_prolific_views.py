"""The investigators' Prolific page (/studies/<slug>/prolific/) against the scripted
Prolific API: access, the submissions beside participants (from the last sync: opening
the page asks Prolific nothing), sync, bulk approve, reject with a reason, bonuses."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studyapp.participation.models import Participant
from tests.factories import (
    make_control_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)
from tests.participation.prolific_support import PROLIFIC_STUDY, pid, prolific_in_use

REASON = (
    "Your answers to both scenarios were copied word for word from the instructions, so "
    "we cannot use them in this study."
)


@pytest.fixture
def prolific(db, settings, monkeypatch):
    return prolific_in_use(settings, monkeypatch)


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def study(alice):
    study = make_study("on-prolific", prolific_study_id=PROLIFIC_STUDY)
    make_scenario(study, "s1")
    make_control_arm(study)
    make_member(study, alice)
    return study


@pytest.fixture
def signed_in(client: Client, alice) -> Client:
    client.force_login(alice)
    return client


def url(study) -> str:
    return reverse("prolific:page", kwargs={"slug": study.slug})


def sync_now(client: Client, study):
    response = client.post(url(study), {"form": "sync"})
    assert response.status_code == 302
    return response


def awaiting(prolific, n: int, *, client: Client | None = None, study=None):
    """n submissions awaiting review; synced into the page when given its client."""
    subs = [
        prolific.add_submission(
            study_id=PROLIFIC_STUDY, participant_id=pid(i), status="AWAITING REVIEW"
        )
        for i in range(1, n + 1)
    ]
    if client is not None:
        sync_now(client, study)
    return subs


def test_it_sends_anonymous_visitors_to_sign_in(client, study, prolific):
    response = client.get(url(study))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_hides_the_study_from_other_users(client, study, prolific):
    client.force_login(make_user("charlie"))
    assert client.get(url(study)).status_code == 404
    assert client.post(url(study), {"form": "sync"}).status_code == 404
    assert prolific.requests() == []


def test_it_lists_submissions_beside_participants_without_their_pid(signed_in, study, prolific):
    here = make_participant(study, prolific_pid=pid(1))
    sub = prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1))
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(2), status="RETURNED")
    sync_now(signed_in, study)
    page = signed_in.get(url(study)).content.decode()
    assert sub.id in page and f"#{here.pk}" in page and "never entered" in page
    assert pid(1) not in page and pid(2) not in page


def test_it_approves_the_chosen_submissions_in_one_call(signed_in, study, prolific):
    first, second, third = awaiting(prolific, 3, client=signed_in, study=study)
    response = signed_in.post(
        url(study),
        {"form": "review", "action": "approve", "submission_ids": [first.id, second.id]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Approved 2 submissions." in response.content.decode()
    assert [prolific.submission(s.id).status for s in (first, second, third)] == [
        "APPROVED",
        "APPROVED",
        "AWAITING REVIEW",
    ]
    bulk = [r for r in prolific.requests() if r["path"] == "/api/v1/submissions/bulk-approve/"]
    assert len(bulk) == 1 and first.id in bulk[0]["body"] and second.id in bulk[0]["body"]


def test_it_approves_only_submissions_awaiting_review(signed_in, study, prolific):
    active = prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1))
    sync_now(signed_in, study)
    response = signed_in.post(
        url(study), {"form": "review", "action": "approve", "submission_ids": [active.id]}
    )
    assert response.status_code == 400
    assert prolific.submission(active.id).status == "ACTIVE"


def test_a_rejection_needs_a_category_and_a_written_reason(signed_in, study, prolific):
    (sub,) = awaiting(prolific, 1, client=signed_in, study=study)
    response = signed_in.post(
        url(study),
        {"form": "review", "action": "reject", "submission_ids": [sub.id], "message": "bad"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "at least 100 characters (3 now)" in page and "Choose why" in page
    assert prolific.submission(sub.id).status == "AWAITING REVIEW"

    response = signed_in.post(
        url(study),
        {
            "form": "review",
            "action": "reject",
            "submission_ids": [sub.id],
            "rejection_category": "LOW_EFFORT",
            "message": REASON,
        },
    )
    assert response.status_code == 302
    assert prolific.submission(sub.id).status == "REJECTED"
    assert prolific.submission(sub.id).rejection_category == "LOW_EFFORT"
    sent = [r["body"] for r in prolific.requests() if r["path"].endswith("/transition/")]
    assert len(sent) == 1 and '"action": "REJECT"' in sent[0] and "copied word for word" in sent[0]


def test_it_pays_bonuses_once(signed_in, study, prolific):
    first, second = awaiting(prolific, 2, client=signed_in, study=study)
    response = signed_in.post(
        url(study),
        {"form": "bonus", "lines": f"{first.id},0.50\n{second.id}, 1.25\n", "confirm": "on"},
    )
    assert response.status_code == 302
    (bonus,) = prolific.bonuses()
    assert bonus.paid and [(w, str(a)) for w, a in bonus.rows] == [
        (first.id, "0.50"),
        (second.id, "1.25"),
    ]
    assert prolific.submission(first.id).bonus_payments == [50]
    pays = [r for r in prolific.requests() if r["path"].endswith("/pay/")]
    assert len(pays) == 1


@pytest.mark.parametrize(
    ("lines", "confirm"),
    [
        ("{id},0\n", "on"),
        ("{id},500\n", "on"),
        ("{id},0.505\n", "on"),
        ("{id},1\n", ""),
        ("x", "on"),
    ],
)
def test_it_refuses_a_bonus_it_should_not_pay(signed_in, study, prolific, lines, confirm):
    (sub,) = awaiting(prolific, 1, client=signed_in, study=study)
    data = {"form": "bonus", "lines": lines.format(id=sub.id), "confirm": confirm}
    assert signed_in.post(url(study), data).status_code == 400
    assert prolific.bonuses() == []


def test_a_bonus_for_another_studys_submission_is_refused(signed_in, study, prolific):
    other = prolific.add_submission(study_id="another-study", participant_id=pid(5))
    data = {"form": "bonus", "lines": f"{other.id},1.00", "confirm": "on"}
    response = signed_in.post(url(study), data)
    assert response.status_code == 400
    assert "Bonuses go to this study" in response.content.decode()
    assert prolific.bonuses() == []


def test_sync_now_reclaims_a_returned_participant(signed_in, study, prolific):
    participant = make_participant(study, prolific_pid=pid(1))
    prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1), status="RETURNED")
    response = signed_in.post(url(study), {"form": "sync"}, follow=True)
    assert "1 participants updated" in response.content.decode()
    participant.refresh_from_db()
    assert participant.status == Participant.Status.RETURNED


def test_it_says_which_variable_to_set_without_a_token(signed_in, study, prolific, monkeypatch):
    monkeypatch.delenv("STUDYAPP_PROLIFIC_TOKEN_DEFAULT")
    response = signed_in.get(url(study))
    assert response.status_code == 200
    assert "STUDYAPP_PROLIFIC_TOKEN_ON_PROLIFIC" in response.content.decode()


def test_it_says_when_prolific_fails(signed_in, study, prolific):
    prolific.fail_next(503)
    response = signed_in.post(url(study), {"form": "sync"})
    assert response.status_code == 502
    assert "Prolific answered 503" in response.content.decode()


def test_opening_the_page_asks_prolific_nothing(signed_in, study, prolific):
    participant = make_participant(study, prolific_pid=pid(1))
    sub = prolific.add_submission(
        study_id=PROLIFIC_STUDY, participant_id=pid(1), status="AWAITING REVIEW"
    )
    page = signed_in.get(url(study)).content.decode()
    assert prolific.requests() == []
    assert "Not synced yet" in page and sub.id not in page

    sync_now(signed_in, study)
    after_sync = len(prolific.requests())
    assert after_sync >= 1
    # Prolific changes; the page shows the last sync's list until the next one.
    prolific.set_status(sub.id, "APPROVED")
    for _ in range(3):
        page = signed_in.get(url(study)).content.decode()
    assert len(prolific.requests()) == after_sync
    assert "Synced 0\xa0minutes ago" in page
    assert sub.id in page and "AWAITING REVIEW" in page and f"#{participant.pk}" in page
    assert pid(1) not in page
    # The status here is today's, not the sync's.
    participant.status = Participant.Status.COMPLETED
    participant.save(update_fields=["status"])
    assert "Completed" in signed_in.get(url(study)).content.decode()
    assert len(prolific.requests()) == after_sync

    sync_now(signed_in, study)
    assert len(prolific.requests()) > after_sync
    assert "APPROVED" in signed_in.get(url(study)).content.decode()


def test_the_scheduled_sync_fills_the_page(signed_in, study, prolific):
    from studyapp.participation.tasks import sync_prolific_task

    sub = prolific.add_submission(study_id=PROLIFIC_STUDY, participant_id=pid(1))
    assert sync_prolific_task() == 1
    before = len(prolific.requests())
    page = signed_in.get(url(study)).content.decode()
    assert sub.id in page and "Synced" in page
    assert len(prolific.requests()) == before


def test_a_review_refreshes_the_list(signed_in, study, prolific):
    (sub,) = awaiting(prolific, 1, client=signed_in, study=study)
    signed_in.post(url(study), {"form": "review", "action": "approve", "submission_ids": [sub.id]})
    page = signed_in.get(url(study)).content.decode()
    assert "APPROVED" in page and 'name="submission_ids"' not in page


def test_the_study_page_links_to_it(signed_in, study, prolific):
    page = signed_in.get(reverse("analysis:study_detail", kwargs={"slug": study.slug}))
    assert url(study) in page.content.decode()


def test_a_study_not_on_prolific_has_no_link(signed_in, study, prolific):
    study.prolific_study_id = ""
    study.save()
    page = signed_in.get(reverse("analysis:study_detail", kwargs={"slug": study.slug}))
    # No link to the submissions page (the Prolific settings page, under it, stays linked).
    assert f'href="{url(study)}"' not in page.content.decode()
