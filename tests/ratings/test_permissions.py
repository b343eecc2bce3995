"""Who reaches which rating page; what raters never see."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.ratings.models import RatingItem
from studyapp.ratings.services.labels import adjudication_save, label_save
from studyapp.ratings.services.raters import rater_add
from studyapp.ratings.services.rounds import round_create
from tests.factories import make_member, make_study
from tests.ratings.dataset import ARM_SECRETS, decision
from tests.ratings.test_labels import assignment


@pytest.fixture
def dealt(rated, alice):
    round_create(study=rated.study, name="R", created_by=alice, double_share=1, seed=11)
    return rated


@pytest.fixture
def other(bob, erin):
    """Study B: bob investigates, erin rates it too; dave does not."""
    study = make_study("other", title="Other study")
    make_member(study, bob)
    rater_add(study=study, user=erin, added_by=bob)
    return study


def position_of(rater, name, rated) -> int:
    return assignment(rated, rater, name).position


INVESTIGATOR_PAGES = [
    ("analysis:study_detail", {}),
    ("ratings:manage", {}),
    ("ratings:summary", {}),
    ("ratings:agreement", {}),
    ("analysis:dashboard", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), INVESTIGATOR_PAGES)
def test_a_rater_cannot_open_investigator_pages(client, dealt, dave, name, kwargs):
    client.force_login(dave)
    assert client.get(reverse(name, kwargs={"slug": "rated", **kwargs})).status_code == 404


def test_a_rater_cannot_change_raters_or_create_rounds(client, dealt, dave):
    client.force_login(dave)
    url = reverse("ratings:rater_change", kwargs={"slug": "rated", "rater_id": dealt.r2.pk})
    assert client.post(url, {"is_active": ""}).status_code == 404
    assert client.post(reverse("ratings:round_new", kwargs={"slug": "rated"})).status_code == 404
    dealt.r2.refresh_from_db()
    assert dealt.r2.is_active


def test_a_rater_of_one_study_cannot_reach_another(client, dealt, other, dave):
    client.force_login(dave)
    for url in (
        reverse("ratings:queue", kwargs={"slug": "other"}),
        reverse("ratings:rate", kwargs={"slug": "other", "position": 1}),
        reverse("ratings:adjudication_queue", kwargs={"slug": "other"}),
        reverse("ratings:manage", kwargs={"slug": "other"}),
    ):
        assert client.get(url).status_code == 404, url
    assert client.get(reverse("ratings:queue", kwargs={"slug": "rated"})).status_code == 200
    assert client.get(reverse("ratings:queue", kwargs={"slug": "nope"})).status_code == 404


def test_a_rater_reaches_only_their_own_positions(client, dealt, dave):
    client.force_login(dave)
    assert (
        client.get(reverse("ratings:rate", kwargs={"slug": "rated", "position": 3})).status_code
        == 200
    )
    assert (
        client.get(reverse("ratings:rate", kwargs={"slug": "rated", "position": 4})).status_code
        == 404
    )


def test_a_deactivated_rater_loses_the_queue(client, dealt, dave):
    dealt.r1.is_active = False
    dealt.r1.save()
    client.force_login(dave)
    assert client.get(reverse("ratings:queue", kwargs={"slug": "rated"})).status_code == 404


def test_people_without_the_role_are_refused(client, dealt, charlie, dave):
    assert client.get(reverse("ratings:queue", kwargs={"slug": "rated"})).status_code == 302
    client.force_login(charlie)
    assert client.get(reverse("ratings:queue", kwargs={"slug": "rated"})).status_code == 404
    assert (
        client.get(reverse("ratings:adjudication_queue", kwargs={"slug": "rated"})).status_code
        == 404
    )
    client.force_login(dave)  # rates, may not adjudicate
    assert (
        client.get(reverse("ratings:adjudication_queue", kwargs={"slug": "rated"})).status_code
        == 404
    )
    item = RatingItem.objects.first()
    url = reverse("ratings:adjudicate", kwargs={"slug": "rated", "item_id": item.pk})
    assert client.get(url).status_code == 404


def test_investigators_and_adjudicators_reach_the_adjudication_queue(
    client, dealt, alice, frank, bob
):
    for user, status in ((alice, 200), (frank, 200), (bob, 404)):
        client.force_login(user)
        assert (
            client.get(reverse("ratings:adjudication_queue", kwargs={"slug": "rated"})).status_code
            == status
        )


def test_another_raters_label_is_invisible_until_adjudication(client, dealt, erin, frank):
    label_save(
        assignment=assignment(dealt, dealt.r1, "A2"),
        decision=decision({"ovarian torsion"}, {"fever"}),
        reason="zq-r1-reason",
    )
    label_save(
        assignment=assignment(dealt, dealt.r2, "A2"), decision=decision({"ovarian torsion"}, set())
    )
    client.force_login(erin)
    url = reverse(
        "ratings:rate", kwargs={"slug": "rated", "position": position_of(dealt.r2, "A2", dealt)}
    )
    page = client.get(url).content.decode()
    assert "zq-r1-reason" not in page and "R1" not in page and "Adjudicated" not in page
    item = RatingItem.objects.get(answer=dealt.answers["A2"])
    adjudication_save(
        item=item, user=frank, decision=decision({"ovarian torsion"}, {"fever"}), reason="zq-final"
    )
    page = client.get(url).content.decode()
    assert "Adjudicated" in page and "zq-final" in page
    assert "zq-r1-reason" not in page  # the final label, never the other rater's own


def test_an_adjudicator_who_labelled_an_item_cannot_open_it(client, dealt, dave):
    dealt.r1.can_adjudicate = True
    dealt.r1.save()
    label_save(assignment=assignment(dealt, dealt.r1, "A2"), decision=decision(set(), set()))
    label_save(
        assignment=assignment(dealt, dealt.r2, "A2"), decision=decision({"ovarian torsion"}, set())
    )
    item = RatingItem.objects.get(answer=dealt.answers["A2"])
    client.force_login(dave)
    url = reverse("ratings:adjudicate", kwargs={"slug": "rated", "item_id": item.pk})
    assert client.get(url).status_code == 404


def test_rater_pages_never_show_arm_model_or_source(client, rated, alice, dave):
    round_create(
        study=rated.study, name="R", created_by=alice, double_share=0, transcripts=True, seed=2
    )
    client.force_login(dave)
    pages = [client.get(reverse("ratings:queue", kwargs={"slug": "rated"}))]
    positions = range(1, 4)
    pages += [
        client.get(reverse("ratings:rate", kwargs={"slug": "rated", "position": p}))
        for p in positions
    ]
    assert all(page.status_code == 200 for page in pages)
    for page in pages:
        text = page.content.decode()
        for secret in (
            *ARM_SECRETS,
            "simulated",
            "model-alone",
            "Model alone",
            "scripted",
            "Rated study",
        ):
            assert secret not in text, secret
    transcripts = [
        p.content.decode()
        for p in pages[1:]
        if "Chat and answer" in p.content.decode() or "turn-assistant" in p.content.decode()
    ]
    assert transcripts, "dave got at least one chat"
    assert (
        "&lt;b&gt;Take care&lt;/b&gt;" in transcripts[0]
        and "<b>Take care</b>" not in transcripts[0]
    )
