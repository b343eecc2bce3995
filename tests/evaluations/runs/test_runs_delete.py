"""Deleting an evaluation run takes its simulated participants, and nothing else, with it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studyapp.accounts.services import user_make_investigator
from studyapp.analysis.consort import study_consort
from studyapp.chat.models import Conversation, Message
from studyapp.evaluations.models import EvaluationChunk, EvaluationItem, EvaluationRun
from studyapp.evaluations.services import (
    EvaluationError,
    StartRequest,
    evaluation_cancel,
    evaluation_delete,
    evaluation_start,
)
from studyapp.participation.models import Answer, Participant, ParticipantEvent, Task
from tests.factories import make_member, make_participant, make_study, make_user

# The chat services write from another thread: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def simulated_run(study, capture) -> EvaluationRun:
    """A finished simulated run (the scripted server plays the patient and the arm)."""
    with capture(execute=True):
        run = evaluation_start(study=study, request=StartRequest(kind="simulated"))
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.SUCCEEDED
    return run


def owned_by(participants) -> dict[str, int]:
    """Every kind of row the participants own, counted."""
    return {
        "participants": Participant.objects.filter(pk__in=participants).count(),
        "tasks": Task.objects.filter(participant__in=participants).count(),
        "conversations": Conversation.objects.filter(task__participant__in=participants).count(),
        "messages": Message.objects.filter(
            conversation__task__participant__in=participants
        ).count(),
        "answers": Answer.objects.filter(task__participant__in=participants).count(),
        "events": ParticipantEvent.objects.filter(participant__in=participants).count(),
    }


def participants_of(run) -> list[int]:
    return list(
        Participant.objects.filter(tasks__evaluation_items__run=run).values_list("pk", flat=True)
    )


@pytest.fixture
def two_runs(study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks):
    study, _arm = study_with_arm
    evaluator.configure(keyed_replies=[])
    first = simulated_run(study, django_capture_on_commit_callbacks)
    second = simulated_run(study, django_capture_on_commit_callbacks)
    return first, second


@pytest.fixture
def human(study_with_arm):
    """A person with a task, a chat, an answer and an event: never touched by a delete."""
    study, arm = study_with_arm
    person = make_participant(study, arm=arm, prolific_pid="PID-HUMAN", status="completed")
    task = Task.objects.create(
        participant=person, scenario=study.scenarios.get(key="chest-pain"), position=1
    )
    Answer.objects.create(
        task=task,
        disposition=study.disposition_scale.levels.get(code="ae"),
        conditions_text="appendicitis",
        confidence=70,
    )
    conversation = Conversation.objects.create(
        task=task,
        arm=arm,
        endpoint=arm.endpoint,
        base_url=arm.endpoint.base_url,
        model=arm.endpoint.model,
        min_turns=1,
        max_turns=3,
        timeout_s=30,
    )
    Message.objects.create(
        conversation=conversation, sequence=1, role="user", text="my tummy hurts"
    )
    ParticipantEvent.objects.create(
        study=study,
        participant=person,
        arm=arm,
        kind=ParticipantEvent.Kind.COMPLETED,
        to_status="completed",
        at=timezone.now(),
    )
    return person


# --- the service ---------------------------------------------------------------------


def test_it_deletes_the_run_its_items_and_its_simulated_participants_with_all_they_own(
    study_with_arm, two_runs, human
):
    study, _arm = study_with_arm
    first, second = two_runs
    gone, kept = participants_of(first), participants_of(second)
    assert len(gone) == len(kept) == 2
    assert owned_by(gone) == {
        "participants": 2,
        "tasks": 2,
        "conversations": 2,
        "messages": 12,
        "answers": 2,
        "events": 2,
    }
    kept_before, human_before = owned_by(kept), owned_by([human.pk])
    consort_before = study_consort(study=study)

    deleted = evaluation_delete(run_id=first.pk)

    assert not EvaluationRun.objects.filter(pk=first.pk).exists()
    assert not EvaluationItem.objects.filter(run_id=first.pk).exists()
    assert not EvaluationChunk.objects.filter(run_id=first.pk).exists()
    assert set(owned_by(gone).values()) == {0}
    assert owned_by(kept) == kept_before
    assert owned_by([human.pk]) == human_before
    assert second.items.count() == 2 and all(i.task_id for i in second.items.all())
    # No event is left behind to pass for a withdrawn person's.
    assert study_consort(study=study) == consort_before
    assert deleted["participation.Participant"] == 2
    assert deleted["evaluations.EvaluationRun"] == 1


def test_a_person_linked_to_a_run_by_mistake_is_never_deleted(study_with_arm, two_runs, human):
    first, _second = two_runs
    item = first.items.first()
    EvaluationItem.objects.filter(pk=item.pk).update(task=human.tasks.get())
    evaluation_delete(run_id=first.pk)
    assert Participant.objects.filter(pk=human.pk).exists()
    assert owned_by([human.pk])["answers"] == 1


@pytest.mark.parametrize("status", ["queued", "running"])
def test_it_refuses_a_run_still_going(study_with_arm, status):
    study, _arm = study_with_arm
    run = evaluation_start(study=study, request=StartRequest(kind="simulated"), enqueue=False)
    EvaluationRun.objects.filter(pk=run.pk).update(status=status)
    with pytest.raises(EvaluationError, match=f"is {status}: cancel it before deleting it"):
        evaluation_delete(run_id=run.pk)
    assert EvaluationRun.objects.filter(pk=run.pk).exists()


def test_a_cancelled_run_whose_worker_still_holds_a_chunk_waits(study_with_arm, settings):
    study, _arm = study_with_arm
    run = evaluation_start(study=study, request=StartRequest(kind="simulated"), enqueue=False)
    evaluation_cancel(run_id=run.pk)
    run.chunks.update(status=EvaluationChunk.Status.RUNNING, heartbeat_at=timezone.now())
    with pytest.raises(EvaluationError, match="still stopping"):
        evaluation_delete(run_id=run.pk)
    # A claim without a heartbeat for longer than the lease belongs to a dead worker.
    stale = timezone.now() - timedelta(seconds=settings.EVALUATION_CHUNK_LEASE_S + 1)
    run.chunks.update(heartbeat_at=stale)
    evaluation_delete(run_id=run.pk)
    assert not EvaluationRun.objects.filter(pk=run.pk).exists()


def test_an_unknown_run_is_refused_with_a_message():
    with pytest.raises(EvaluationError, match="there is no evaluation run 999999"):
        evaluation_delete(run_id=999999)


# --- the evaluations page ------------------------------------------------------------


def delete_url(run) -> str:
    return reverse("evaluations:delete", args=[run.study.slug, run.pk])


def page_url(study) -> str:
    return reverse("evaluations:page", args=[study.slug])


def test_the_page_offers_delete_only_for_finished_runs_and_asks_first(
    study_with_arm, two_runs, alice, client
):
    study, _arm = study_with_arm
    first, _second = two_runs
    running = evaluation_start(study=study, request=StartRequest(kind="simulated"), enqueue=False)
    html = client.get(page_url(study)).content.decode()
    assert f'hx-post="{delete_url(first)}"' in html
    assert f'hx-confirm="Delete run {first.key} with its items and simulated participants?' in html
    assert delete_url(running) not in html


def test_an_investigator_deletes_a_finished_run_from_the_page(
    study_with_arm, two_runs, alice, client
):
    study, _arm = study_with_arm
    first, second = two_runs
    gone = participants_of(first)
    response = client.post(delete_url(first), follow=True)
    assert response.redirect_chain == [(page_url(study), 302)]
    assert f"Run {first.key} deleted, with its simulated participants." in (
        response.content.decode()
    )
    assert not EvaluationRun.objects.filter(pk=first.pk).exists()
    assert set(owned_by(gone).values()) == {0}
    assert EvaluationRun.objects.filter(pk=second.pk).exists()


def test_from_htmx_the_whole_page_reloads(study_with_arm, two_runs, alice, client):
    study, _arm = study_with_arm
    first, _second = two_runs
    response = client.post(delete_url(first), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == page_url(study)
    assert not EvaluationRun.objects.filter(pk=first.pk).exists()


def test_it_rejects_get(study_with_arm, two_runs, alice, client):
    first, _second = two_runs
    assert client.get(delete_url(first)).status_code == 405
    assert EvaluationRun.objects.filter(pk=first.pk).exists()


def test_it_refuses_a_running_run_with_the_reason(study_with_arm, alice, client):
    study, _arm = study_with_arm
    run = evaluation_start(study=study, request=StartRequest(kind="simulated"), enqueue=False)
    response = client.post(delete_url(run), follow=True)
    assert "cancel it before deleting it" in response.content.decode()
    assert EvaluationRun.objects.filter(pk=run.pk).exists()


def test_another_investigator_gets_404(study_with_arm, two_runs, client):
    first, _second = two_runs
    client.force_login(make_user("charlie"))
    assert client.post(delete_url(first)).status_code == 404
    assert EvaluationRun.objects.filter(pk=first.pk).exists()


def test_a_run_of_another_study_is_not_found_under_this_one(
    study_with_arm, two_runs, alice, client
):
    first, _second = two_runs
    other = make_study("other-study")
    make_member(other, alice)
    url = reverse("evaluations:delete", args=[other.slug, first.pk])
    assert client.post(url).status_code == 404
    assert EvaluationRun.objects.filter(pk=first.pk).exists()


def test_it_needs_the_csrf_token(study_with_arm, two_runs, alice):
    first, _second = two_runs
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(delete_url(first)).status_code == 403
    assert EvaluationRun.objects.filter(pk=first.pk).exists()


# --- the admin -----------------------------------------------------------------------


@pytest.fixture
def root(client):
    user = make_user("root", superuser=True)
    client.force_login(user)
    return user


def admin_delete_url(run) -> str:
    return reverse("admin:evaluations_evaluationrun_delete", args=[run.pk])


def test_the_admin_delete_goes_through_the_service(study_with_arm, two_runs, human, root, client):
    first, second = two_runs
    gone = participants_of(first)
    confirm = client.get(admin_delete_url(first))
    assert confirm.status_code == 200
    assert "2 simulated participants, with their tasks, chats, answers and events" in (
        confirm.content.decode()
    )
    response = client.post(admin_delete_url(first), {"post": "yes"})
    assert response.status_code == 302
    assert not EvaluationRun.objects.filter(pk=first.pk).exists()
    assert set(owned_by(gone).values()) == {0}
    assert EvaluationRun.objects.filter(pk=second.pk).exists()
    assert Participant.objects.filter(pk=human.pk).exists()


def test_the_admin_bulk_delete_goes_through_the_service(
    study_with_arm, two_runs, human, root, client
):
    study, _arm = study_with_arm
    runs = list(two_runs)
    gone = [pk for run in runs for pk in participants_of(run)]
    response = client.post(
        reverse("admin:evaluations_evaluationrun_changelist"),
        {"action": "delete_selected", "_selected_action": [r.pk for r in runs], "post": "yes"},
    )
    assert response.status_code == 302
    assert not EvaluationRun.objects.filter(study=study).exists()
    assert set(owned_by(gone).values()) == {0}
    assert list(Participant.objects.filter(study=study)) == [human]


def test_the_admin_refuses_a_run_still_going_and_says_why(study_with_arm, two_runs, root, client):
    study, _arm = study_with_arm
    first, _second = two_runs
    running = evaluation_start(study=study, request=StartRequest(kind="simulated"), enqueue=False)
    changelist = reverse("admin:evaluations_evaluationrun_changelist")
    selected = {"action": "delete_selected", "_selected_action": [first.pk, running.pk]}
    response = client.post(changelist, selected | {"post": "yes"})
    assert response.status_code == 200
    assert "cancel it before deleting it" in response.content.decode()
    assert EvaluationRun.objects.filter(pk__in=[first.pk, running.pk]).count() == 2
    single = client.post(admin_delete_url(running), {"post": "yes"})
    assert single.status_code == 200 and "cancel it before deleting it" in single.content.decode()
    assert EvaluationRun.objects.filter(pk=running.pk).exists()


def test_an_investigator_cannot_delete_runs_in_the_admin(study_with_arm, two_runs, client):
    study, _arm = study_with_arm
    first, _second = two_runs
    bob = make_user("bob")
    user_make_investigator(user=bob)
    make_member(study, bob)
    client.force_login(bob)
    assert client.post(admin_delete_url(first), {"post": "yes"}).status_code == 403
    assert EvaluationRun.objects.filter(pk=first.pk).exists()
