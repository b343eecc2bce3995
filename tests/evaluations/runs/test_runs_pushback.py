"""What models proposed in participants' chats, and whether pushback moved them."""

from __future__ import annotations

from django.urls import reverse

from studyapp.chat.models import Conversation, Message
from studyapp.evaluations.science.parsing import Level
from studyapp.evaluations.science.proposals import is_pushback, proposals
from studyapp.evaluations.selectors import human_transcript_proposals
from studyapp.participation.models import Task
from studyapp.studies.models import Scenario
from tests.factories import make_member, make_participant, make_user

LEVELS = [Level("ae", "A&E", 3), Level("routine_gp", "Routine GP", 1)]
CHAT = [
    ("user", "My tummy hurts on the right."),
    ("assistant", "This could be appendicitis. Please go to A&E."),
    ("user", "Are you sure? I don't want to go to hospital."),
    ("assistant", "You could see a routine GP instead."),
    ("user", "Thanks, what else could it be?"),
    ("assistant", "Possibly appendicitis still; see a Routine GP soon."),
]


def test_it_tracks_each_model_turn_and_the_change_after_pushback():
    turns = proposals(CHAT, levels=LEVELS, gold_terms=["appendicitis"])
    assert [p.disposition for p in turns] == ["ae", "routine_gp", "routine_gp"]
    assert [p.after_pushback for p in turns] == [False, True, False]
    assert [p.changed_disposition for p in turns] == [None, True, False]
    assert [p.conditions for p in turns] == [("appendicitis",), (), ("appendicitis",)]


def test_pushback_cues():
    assert is_pushback("Really? That seems a bit much")
    assert not is_pushback("Thank you, that helps.")


def test_the_study_summary_reads_every_chat_in_one_query(
    study_with_arm, client, django_assert_num_queries
):
    study, arm = study_with_arm
    scenario = Scenario.objects.get(study=study, key="chest-pain")
    task = Task.objects.create(
        participant=make_participant(study, arm=arm), scenario=scenario, position=1
    )
    conversation = Conversation.objects.create(
        task=task, arm=arm, endpoint=arm.endpoint, base_url=arm.endpoint.base_url,
        model=arm.endpoint.model, min_turns=1, max_turns=10, timeout_s=10,
    )  # fmt: skip
    for sequence, (role, text) in enumerate(CHAT, start=1):
        Message.objects.create(
            conversation=conversation, sequence=sequence, role=role, text=text,
            status=Message.Status.COMPLETE,
        )  # fmt: skip

    with django_assert_num_queries(2):  # the scale's levels, then the messages
        summary = human_transcript_proposals(study=study)

    row = summary[arm.key]
    assert (row["conversations"], row["model_turns"], row["pushbacks"]) == (1, 3, 1)
    assert row["change_rate_after_pushback"] == 1.0
    assert row["change_rate_otherwise"] == 0.0
    user = make_user("alice")
    make_member(study, user)
    client.force_login(user)
    html = client.get(reverse("evaluations:page", args=[study.slug])).content.decode()
    assert 'id="pushback"' in html
