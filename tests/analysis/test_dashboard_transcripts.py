from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.participation.models import Participant, Task
from tests.analysis.scored import ARM_SECRETS, scored_answer
from tests.factories import make_member, make_participant, make_scenario, make_study


def task_of(participant: Participant, position: int) -> Task:
    return participant.tasks.get(position=position)


@pytest.fixture
def url(scored):
    task = task_of(scored.p1, 2)
    return reverse("analysis:transcript", args=[scored.study.slug, task.pk])


def test_it_shows_the_scenario_chat_and_scored_answer(client, alice, scored, url):
    client.force_login(alice)
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Scenario back" in html
    assert "You are playing the part of someone (back)." in html
    assert "My back hurts." in html
    assert "Most likely a muscle strain." in html
    assert "model-secret-zq" in html  # not blinded
    t = response.context["t"]
    assert [turn.matched for turn in t.turns] == [(), ("muscle strain",)]
    assert t.model_named == ("muscle strain",)
    # The model named muscle strain; the answer ("no idea") left it out.
    assert t.answer_omitted_model_condition is True
    assert '<span class="chip">muscle strain</span>' in html
    assert "Routine GP" in html and "over-triage" in html


def test_it_escapes_what_participants_and_models_wrote(client, alice, scored):
    p = make_participant(scored.study, arm=scored.llm, status=Participant.Status.COMPLETED)
    scored_answer(
        p,
        scored.belly,
        1,
        "ae",
        "<b>appendicitis</b>",
        chat=[("user", "<script>alert('x')</script>"), ("assistant", "<img src=x onerror=y>")],
    )
    client.force_login(alice)
    task = task_of(p, 1)
    html = client.get(reverse("analysis:transcript", args=["beta", task.pk])).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&lt;b&gt;appendicitis&lt;/b&gt;" in html


def test_blinded_it_shows_only_the_arms_letter(client, alice, scored, url):
    client.force_login(alice)
    response = client.get(url, {"blinded": "1"})
    html = response.content.decode()
    for secret in ARM_SECRETS:
        assert secret not in html
    assert "You are a helpful assistant." not in html  # the system prompt
    letter = response.context["t"].arm.letter
    assert f"<dd>{letter} " in html
    assert "?blinded=1" in html  # the way back stays blinded


def test_a_control_task_shows_the_sources_instead_of_a_chat(client, alice, scored):
    p = scored.study.participants.get(arm=scored.control, status="completed")
    task = task_of(p, 1)
    Task.objects.filter(pk=task.pk).update(sources_text="NHS website")
    client.force_login(alice)
    html = client.get(reverse("analysis:transcript", args=["beta", task.pk])).content.decode()
    assert "No chat for this task" in html
    assert "NHS website" in html
    assert "gastroenteritis" in html


def test_it_answers_404_for_a_task_of_another_study(client, alice, scored):
    other = make_study("other")
    make_member(other, alice)
    p = make_participant(other)
    task = Task.objects.create(participant=p, scenario=make_scenario(other, "x"), position=1)
    client.force_login(alice)
    assert client.get(reverse("analysis:transcript", args=["beta", task.pk])).status_code == 404
    assert client.get(reverse("analysis:transcript", args=["other", task.pk])).status_code == 200


def test_it_answers_404_to_someone_not_investigating_the_study(client, bob, url):
    client.force_login(bob)
    assert client.get(url).status_code == 404


def test_it_needs_few_queries(client, alice, url, django_assert_max_num_queries):
    client.force_login(alice)
    client.get(url)  # the first request after a login refreshes the session (accounts.sessions)
    # session, user, study, task (with scenario, answer, chat), arms, messages; and the
    # audit trail's entry for the view (lock the chain's head, insert, move the head).
    with django_assert_max_num_queries(10):
        client.get(url)
