"""The dashboard's blinding-guard section: per arm, replies that said a blinding term."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.chat.models import Message
from studyapp.participation.models import Participant
from tests.analysis.scored import scored_answer
from tests.factories import make_participant

HITS = [{"term": "Llama", "start": 5, "end": 10}, {"term": "Llama", "start": 20, "end": 25}]


@pytest.fixture
def guarded(scored):
    human = Message.objects.filter(
        conversation__task__participant__study=scored.study,
        conversation__task__participant__is_simulated=False,
        role=Message.Role.ASSISTANT,
    ).first()
    human.blinding_hits = HITS
    human.save(update_fields=["blinding_hits"])
    # A simulated patient's chat says it too: no human figure may count it.
    bot = make_participant(
        scored.study, arm=scored.llm, status=Participant.Status.COMPLETED, is_simulated=True
    )
    scored_answer(
        bot, scored.belly, 1, "ae", "appendicitis", chat=[("user", "hi"), ("assistant", "x")]
    )
    Message.objects.filter(conversation__task__participant=bot, role="assistant").update(
        blinding_hits=HITS * 3
    )
    return scored


def section(client, study, **params):
    url = reverse("analysis:blinding_guard", args=[study.slug])
    return client.get(url, params)


def test_it_counts_replies_with_terms_per_arm_for_people_only(client, alice, guarded):
    client.force_login(alice)
    response = section(client, guarded.study)
    assert response.status_code == 200
    [row] = response.context["guard"].rows  # the control arm has no replies to guard
    humans = Message.objects.filter(
        conversation__arm=guarded.llm,
        conversation__task__participant__is_simulated=False,
        role="assistant",
    ).count()
    assert (row.replies, row.replies_with_terms, row.occurrences) == (humans, 1, 2)
    assert row.terms == {"Llama": 2}
    html = response.content.decode()
    assert "Llama (2)" in html and "gptarmzq" in html


def test_blinded_it_names_arms_by_letter_and_hides_the_terms(client, alice, guarded):
    client.force_login(alice)
    html = section(client, guarded.study, blinded="1").content.decode()
    assert "Llama" not in html and "gptarmzq" not in html
    assert "the terms are not shown" in html


def test_another_investigator_cannot_see_it(client, bob, guarded):
    client.force_login(bob)
    assert section(client, guarded.study).status_code == 404
