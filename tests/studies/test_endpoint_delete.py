"""Deleting a model endpoint (/endpoints/<id>/delete/): its owner, after a confirmation,
and only while nothing refers to it, so a deletion never loses what the data says was
used; the deletion is on the audit trail."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studyapp.audit.models import AuditEntry
from studyapp.chat.models import Conversation
from studyapp.evaluations.models import EvaluationRun
from studyapp.participation.models import Participant, Task
from studyapp.studies.models import ModelEndpoint
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def endpoint(alice) -> ModelEndpoint:
    return make_endpoint(name="alice-vllm", owner=alice)


def url(endpoint: ModelEndpoint) -> str:
    return reverse("endpoints:delete", args=[endpoint.pk])


def test_the_owner_confirms_then_deletes_an_unused_endpoint(alice, endpoint):
    client = client_for(alice)
    page = client.get(reverse("endpoints:edit", args=[endpoint.pk])).content.decode()
    assert url(endpoint) in page
    confirm = client.get(url(endpoint))
    assert confirm.status_code == 200
    assert b'id="endpoint-delete-form"' in confirm.content
    assert ModelEndpoint.objects.filter(pk=endpoint.pk).exists()  # a GET deletes nothing

    response = client.post(url(endpoint), follow=True)
    assert response.redirect_chain == [(reverse("endpoints:list"), 302)]
    assert "The endpoint “alice-vllm” is deleted." in response.content.decode()
    assert not ModelEndpoint.objects.filter(pk=endpoint.pk).exists()
    entry = AuditEntry.objects.get(object_type="studies.modelendpoint", action="delete")
    assert entry.object_id == str(endpoint.pk)
    assert entry.actor_id == alice.pk and entry.study_id is None
    assert entry.before["name"] == "alice-vllm"
    # Its versions stay in the history.
    assert ModelEndpoint.history.filter(id=endpoint.pk, history_type="-").exists()


def test_an_endpoint_an_arm_uses_is_refused_with_the_reason(alice, endpoint):
    study = make_study("uses-it")
    make_llm_arm(study, endpoint)
    client = client_for(alice)
    confirm = client.get(url(endpoint)).content.decode()
    assert "it is used by 1 arm." in confirm and 'id="endpoint-delete-form"' not in confirm
    response = client.post(url(endpoint))
    assert response.status_code == 409
    assert "This endpoint cannot be deleted: it is used by 1 arm," in response.content.decode()
    assert ModelEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_an_endpoint_with_conversations_stays_after_its_arm_moved_on(alice, endpoint):
    study = make_study("moved-on")
    arm = make_llm_arm(study, endpoint)
    participant = make_participant(study, arm=arm, status=Participant.Status.COMPLETED)
    task = Task.objects.create(
        participant=participant,
        scenario=make_scenario(study, "s1"),
        position=1,
        status=Task.Status.DONE,
        started_at=timezone.now(),
    )
    Conversation.objects.create(
        task=task,
        arm=arm,
        endpoint=endpoint,
        base_url=endpoint.base_url,
        model=endpoint.model,
        min_turns=1,
        max_turns=10,
        timeout_s=5,
    )
    arm.endpoint = make_endpoint(name="newer")
    arm.save()
    response = client_for(alice).post(url(endpoint))
    assert response.status_code == 409
    assert "it is used by 1 conversation," in response.content.decode()
    assert ModelEndpoint.objects.filter(pk=endpoint.pk).exists()


@pytest.mark.parametrize("how", ["endpoint", "grader_endpoint", "patient_endpoint"])
def test_an_endpoint_an_evaluation_run_names_is_refused(alice, endpoint, how):
    study = make_study("evaluated")
    run = EvaluationRun(study=study, key="run", kind="rubric")
    if how == "endpoint":
        run.endpoint = endpoint
    else:
        run.config = {how: endpoint.name}
    run.save()
    response = client_for(alice).post(url(endpoint))
    assert response.status_code == 409
    assert "it is used by 1 evaluation run," in response.content.decode()
    assert ModelEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_only_the_owner_deletes(alice, endpoint):
    study = make_study("shared")
    make_llm_arm(study, endpoint)
    bob = make_user("bob")
    make_member(study, bob)  # sees the endpoint through the study's arm
    assert client_for(bob).get(url(endpoint)).status_code == 403
    assert client_for(bob).post(url(endpoint)).status_code == 403
    # Someone who cannot see it meets a 404, as on its other pages.
    assert client_for(make_user("charlie")).post(url(endpoint)).status_code == 404
    assert ModelEndpoint.objects.filter(pk=endpoint.pk).exists()
    page = client_for(bob).get(reverse("endpoints:edit", args=[endpoint.pk])).content.decode()
    assert url(endpoint) not in page
