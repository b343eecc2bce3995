"""Participant data is view-only in the admin, for superusers too; tokens never show."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.accounts.services import user_make_investigator
from studyapp.chat.models import Conversation, Message
from studyapp.participation.models import Answer, Task
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)


@pytest.fixture
def data(db):
    study = make_study("alpha")
    arm = make_llm_arm(study, make_endpoint())
    participant = make_participant(study, arm=arm, prolific_pid="PID-ALPHA")
    task = Task.objects.create(
        participant=participant, scenario=make_scenario(study, "belly"), position=1
    )
    answer = Answer.objects.create(
        task=task,
        disposition=study.disposition_scale.levels.get(code="ae"),
        conditions_text="appendicitis",
        confidence=70,
    )
    endpoint = arm.endpoint
    conversation = Conversation.objects.create(
        task=task,
        arm=arm,
        endpoint=endpoint,
        base_url=endpoint.base_url,
        model=endpoint.model,
        min_turns=1,
        max_turns=10,
        timeout_s=30,
    )
    message = Message.objects.create(
        conversation=conversation,
        sequence=1,
        role="user",
        text="my tummy hurts",
        status="complete",
    )
    return {
        "study": study,
        "participant": participant,
        "task": task,
        "answer": answer,
        "conversation": conversation,
        "message": message,
    }


RECORDED = ["participant", "task", "answer", "conversation", "message"]


def admin_url(obj, view: str) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


@pytest.mark.parametrize("name", RECORDED)
def test_a_superuser_can_view_but_not_change_recorded_data(client, data, name):
    client.force_login(make_user("root", superuser=True))
    obj = data[name]
    meta = obj._meta
    changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    assert client.get(changelist).status_code == 200
    response = client.get(admin_url(obj, "change"))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert response.context["adminform"].form.fields == {}
    assert client.post(admin_url(obj, "change"), {}).status_code == 403
    assert client.get(admin_url(obj, "delete")).status_code == 403
    add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
    assert client.get(add).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_the_participant_token_never_appears_in_the_admin(client, data):
    client.force_login(make_user("root", superuser=True))
    token = data["participant"].token
    changelist = client.get(reverse("admin:participation_participant_changelist"))
    assert "PID-ALPHA" in changelist.content.decode()
    assert token not in changelist.content.decode()
    for name in RECORDED:
        page = client.get(admin_url(data[name], "change")).content.decode()
        assert token not in page


def test_an_investigator_sees_only_their_studies_participant_data(client, data):
    other = make_study("beta")
    stranger = make_participant(other, prolific_pid="PID-BETA")
    alice = make_user("alice")
    user_make_investigator(user=alice)
    make_member(data["study"], alice)
    client.force_login(alice)
    response = client.get(reverse("admin:participation_participant_changelist"))
    assert list(response.context["cl"].queryset) == [data["participant"]]
    assert client.get(admin_url(stranger, "change")).status_code == 302
    for name, model in [("answer", Answer), ("message", Message), ("conversation", Conversation)]:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert list(client.get(url).context["cl"].queryset) == [data[name]]


def test_an_investigator_of_no_study_sees_no_participants(client, data):
    charlie = make_user("charlie")
    user_make_investigator(user=charlie)
    client.force_login(charlie)
    response = client.get(reverse("admin:participation_participant_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == []
