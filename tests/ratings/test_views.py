"""The rating pages through the test client: labelling, adjudicating, managing."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from studyapp.chat.models import Conversation, Message
from studyapp.ratings.models import Adjudication, Label, RatingItem, RatingRound, StudyRater
from studyapp.ratings.services.labels import label_save
from studyapp.ratings.services.rounds import round_create
from tests.ratings.dataset import decision
from tests.ratings.test_labels import assignment, item_of


@pytest.fixture
def dealt(rated, alice):
    round_create(study=rated.study, name="R", created_by=alice, double_share=1, seed=11)
    return rated


def rate_url(position: int) -> str:
    return reverse("ratings:rate", kwargs={"slug": "rated", "position": position})


def test_a_rater_labels_an_answer_and_moves_on(client, dealt, dave):
    client.force_login(dave)
    a = assignment(dealt, dealt.r1, "A2")
    response = client.post(
        rate_url(a.position),
        {
            "conditions_named": ["ovarian torsion"],
            "red_flags_named": ["fever"],
            "other_conditions": "ectopic pregnancy",
            "reason": "",
        },
    )
    following = [p for p in (1, 2, 3) if p > a.position]
    expected = (
        rate_url(following[0]) if following else reverse("ratings:queue", kwargs={"slug": "rated"})
    )
    assert response.status_code == 302 and response.url == expected
    label = Label.objects.get()
    assert (
        label.rater,
        label.conditions_named,
        label.red_flags_named,
        label.other_conditions,
    ) == (
        dealt.r1,
        ["ovarian torsion"],
        ["fever"],
        "ectopic pregnancy",
    )
    page = client.get(rate_url(a.position)).content.decode()
    assert "Save a revised label" in page and 'id="label-history"' in page
    assert re.search(r'value="ovarian torsion"[^>]*checked', page)
    assert not re.search(r'value="appendicitis"[^>]*checked', page)


def test_a_term_not_of_the_scenario_is_refused(client, dealt, dave):
    client.force_login(dave)
    response = client.post(rate_url(1), {"conditions_named": ["gastritis"]})
    assert response.status_code == 400
    assert not Label.objects.exists()


def test_the_queue_shows_progress(client, dealt, dave):
    label_save(assignment=assignment(dealt, dealt.r1, "A1"), decision=decision(set(), set()))
    client.force_login(dave)
    page = client.get(reverse("ratings:queue", kwargs={"slug": "rated"})).content.decode()
    assert "1 of 3 labelled." in page


def test_a_rater_fills_the_rubric_of_a_chat(client, rated, alice, dave):
    round_create(
        study=rated.study,
        name="R",
        created_by=alice,
        double_share=1,
        answers=False,
        transcripts=True,
    )
    client.force_login(dave)
    page = client.get(rate_url(1)).content.decode()
    assert "Assistant, turn 2" in page and "Names appendicitis. (+2)" in page
    response = client.post(
        rate_url(1),
        {
            "rubric_names-appendicitis": "met",
            "turns_names-appendicitis": "1",
            "rubric_says-wait": "not_met",
            "turns_says-wait": "",
            "rubric_answer-ae": "met",
        },
    )
    assert response.status_code == 302
    label = Label.objects.get()
    assert label.rubric == {
        "names-appendicitis": {"met": True, "turns": [1]},
        "says-wait": {"met": False, "turns": []},
        "answer-ae": {"met": True, "turns": []},
    }
    bad = client.post(
        rate_url(2),
        {
            "rubric_names-appendicitis": "met",
            "turns_names-appendicitis": "7",
            "rubric_says-wait": "met",
            "rubric_answer-ae": "met",
        },
    )
    assert bad.status_code == 400 and "turns are 1 to 2" in bad.content.decode()


def label_a2_both_ways(dealt):
    label_save(
        assignment=assignment(dealt, dealt.r1, "A2"),
        decision=decision({"ovarian torsion"}, {"fever"}),
    )
    label_save(
        assignment=assignment(dealt, dealt.r2, "A2"), decision=decision({"ovarian torsion"}, set())
    )


def test_an_adjudicator_takes_a_raters_label(client, dealt, frank):
    label_a2_both_ways(dealt)
    item = item_of(dealt, "A2")
    client.force_login(frank)
    queue = client.get(
        reverse("ratings:adjudication_queue", kwargs={"slug": "rated"})
    ).content.decode()
    assert f'id="adjudicate-{item.pk}"' in queue
    url = reverse("ratings:adjudicate", kwargs={"slug": "rated", "item_id": item.pk})
    page = client.get(url).content.decode()
    assert 'data-rater="R1"' in page and 'data-rater="R2"' in page
    r1 = Label.objects.get(item=item, rater=dealt.r1)
    assert client.post(url, {"take": str(r1.pk), "reason": ""}).status_code == 400
    response = client.post(url, {"take": str(r1.pk), "reason": "the answer names a fever"})
    assert response.status_code == 302
    adjudication = Adjudication.objects.get()
    assert (adjudication.chosen_label, adjudication.red_flags_named, adjudication.reason) == (
        r1,
        ["fever"],
        "the answer names a fever",
    )


def test_an_adjudicator_marks_a_label_of_their_own(client, dealt, frank):
    label_a2_both_ways(dealt)
    item = item_of(dealt, "A2")
    client.force_login(frank)
    url = reverse("ratings:adjudicate", kwargs={"slug": "rated", "item_id": item.pk})
    response = client.post(
        url,
        {"take": "own", "conditions_named": ["ovarian torsion", "appendicitis"], "reason": "both"},
    )
    assert response.status_code == 302
    assert Adjudication.objects.get().conditions_named == ["appendicitis", "ovarian torsion"]


def test_an_investigator_adds_a_rater_and_creates_a_round(client, rated, alice, charlie):
    client.force_login(alice)
    url = reverse("ratings:manage", kwargs={"slug": "rated"})
    assert client.post(url, {"user": "nobody"}).status_code == 400
    assert client.post(url, {"user": "charlie", "can_rate": "on"}).status_code == 302
    role = StudyRater.objects.get(user=charlie)
    assert (role.code, role.can_rate, role.can_adjudicate, role.added_by) == (
        "R4",
        True,
        False,
        alice,
    )
    response = client.post(
        reverse("ratings:round_new", kwargs={"slug": "rated"}),
        {
            "name": "First",
            "answers": "on",
            "humans": "on",
            "raters": [rated.r1.pk, rated.r2.pk],
            "double_percent": "100",
            "raters_per_double": "2",
            "seed": "5",
        },
    )
    assert response.status_code == 302
    rating_round = RatingRound.objects.get()
    assert (rating_round.name, rating_round.double_share, rating_round.seed) == ("First", 1.0, 5)
    assert RatingItem.objects.filter(is_double=True).count() == 3
    assert not role.assignments.exists()
    page = client.get(url).content.decode()
    assert "First" in page and "seed 5" in page


def test_an_investigator_changes_a_raters_role(client, rated, alice):
    client.force_login(alice)
    url = reverse("ratings:rater_change", kwargs={"slug": "rated", "rater_id": rated.r2.pk})
    assert client.post(url, {"can_rate": "on", "can_adjudicate": "on"}).status_code == 302
    rated.r2.refresh_from_db()
    assert (rated.r2.can_rate, rated.r2.can_adjudicate, rated.r2.is_active) == (True, True, False)


def test_the_study_page_loads_the_rating_section(client, dealt, alice):
    client.force_login(alice)
    page = client.get(reverse("analysis:study_detail", kwargs={"slug": "rated"})).content.decode()
    assert reverse("ratings:summary", kwargs={"slug": "rated"}) in page
    summary = client.get(
        reverse("ratings:summary", kwargs={"slug": "rated"}), HTTP_HX_REQUEST="true"
    )
    text = summary.content.decode()
    assert (
        summary.status_code == 200
        and 'id="rater-R1"' in text
        and "No answer has two labels yet" in text
    )
    details = client.get(reverse("ratings:agreement", kwargs={"slug": "rated"}))
    assert details.status_code == 200


def test_the_home_page_lists_the_roles(client, dealt, dave, frank):
    client.force_login(dave)
    page = client.get(reverse("ratings:home")).content.decode()
    assert "as R1" in page and reverse("ratings:queue", kwargs={"slug": "rated"}) in page
    client.force_login(frank)
    page = client.get(reverse("ratings:home")).content.decode()
    assert reverse("ratings:adjudication_queue", kwargs={"slug": "rated"}) in page
    assert "My queue" not in page


MARKDOWN_REPLY = (
    "**Go to A&E.**\n\n| Sign | Do |\n|---|--:|\n| pain | call |\n\n- one\n- two\n\n"
    '<script>window.__xss = 1</script> <img src=x onerror="alert(1)"> '
    "[bad](javascript:alert(1))"
)
PERSON_XSS = "**mine** <script>alert('person')</script>\n<img src=x onerror=alert(2)>"


def test_a_chats_model_replies_render_as_markdown_and_nothing_runs(client, rated, alice, dave):
    Message.objects.filter(role=Message.Role.ASSISTANT).update(text=MARKDOWN_REPLY)
    Message.objects.filter(role=Message.Role.USER).update(text=PERSON_XSS)
    round_create(
        study=rated.study,
        name="R",
        created_by=alice,
        double_share=1,
        answers=False,
        transcripts=True,
    )
    client.force_login(dave)
    page = client.get(rate_url(1)).content.decode()
    # The model's reply as sanitized markdown, as the participant's chat shows it.
    assert "<strong>Go to A&amp;E.</strong>" in page
    assert '<th class="align-right">Do</th>' in page and "<li>one</li>" in page
    assert page.count('<div class="turn-text md">') == 2
    # Its payloads stay text; the person's text stays plain, escaped, line breaks kept.
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
    assert "<img" not in page and 'href="javascript' not in page
    assert "<script>window" not in page and "<script>alert" not in page
    assert (
        '<div class="turn-text pre">**mine** &lt;script&gt;alert(&#x27;person&#x27;)'
        "&lt;/script&gt;\n&lt;img src=x onerror=alert(2)&gt;</div>"
    ) in page


def test_a_rater_reads_a_model_naming_itself_with_the_neutral_words(client, rated, alice, dave):
    # The study only flagged the terms for participants; raters must stay blind to the arm.
    rated.study.blinding_action = "flag"
    rated.study.save()
    Conversation.objects.update(blinding_terms=["Llama"], blinding_replacement=None)
    Message.objects.filter(role=Message.Role.ASSISTANT).update(text="As LLAMA, I think: A&E.")
    round_create(
        study=rated.study,
        name="R",
        created_by=alice,
        double_share=1,
        answers=False,
        transcripts=True,
    )
    client.force_login(dave)
    page = client.get(rate_url(1)).content.decode()
    assert "As the assistant, I think" in page
    assert "LLAMA" not in page and "Llama" not in page
