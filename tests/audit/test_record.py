"""Appending (services.record) and what the configuration's history feeds into it."""

from __future__ import annotations

import itertools
import json

import pytest
from django.db import transaction
from django.urls import reverse

from studyapp.audit import chain as hashchain
from studyapp.audit import selectors, services
from studyapp.audit.models import AuditEntry, AuditImmutableError, ChainHead, chain_for
from studyapp.studies.analysis_plan import default_plan
from studyapp.studies.members import membership_grant, membership_revoke
from studyapp.studies.models import Arm
from studyapp.studies.services import plan_save
from tests.factories import make_endpoint, make_llm_arm, make_member, make_scenario


def entries_of(study):
    return list(AuditEntry.objects.of_study(study).order_by("seq"))


def test_entries_are_numbered_and_linked_in_their_study_s_chain(study, alice):
    before = len(entries_of(study))
    for i in range(3):
        services.record(study=study, actor=alice, action="view", object_type="t", object_id=i)
    entries = entries_of(study)
    assert [e.seq for e in entries] == list(range(1, before + 4))
    assert entries[0].prev_hash == hashchain.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    head = ChainHead.objects.get(chain=chain_for(study.pk))
    assert (head.seq, head.last_hash) == (entries[-1].seq, entries[-1].hash)
    assert entries[-1].actor_label == "alice" and entries[-1].actor_id == alice.pk


def test_an_entry_is_never_changed_or_deleted(study, alice):
    entry = services.record(study=study, actor=alice, action="view", object_type="t")
    entry.action = "export"
    with pytest.raises(AuditImmutableError):
        entry.save()
    with pytest.raises(AuditImmutableError):
        entry.delete()


def test_a_rolled_back_change_leaves_no_entry(study, alice):
    count = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.record(study=study, actor=alice, action="view", object_type="t")
        raise RuntimeError
    assert AuditEntry.objects.count() == count


def test_an_arm_s_creation_change_and_deletion_are_kept_with_who_and_the_values(study, alice):
    endpoint = make_endpoint(name="ep")
    arm = make_llm_arm(study, endpoint, system_prompt="Be brief.")
    created = entries_of(study)[-1]
    assert (created.action, created.object_type, created.object_id) == (
        "create",
        "studies.arm",
        str(arm.pk),
    )
    assert created.before is None and created.after["system_prompt"] == "Be brief."
    assert created.actor is None  # not through a request: the platform

    arm = Arm.objects.get(pk=arm.pk)
    arm.system_prompt = "Be thorough."
    arm.max_turns = 4
    arm._history_user = alice
    arm.save()
    changed = entries_of(study)[-1]
    assert changed.action == "change" and changed.actor_label == "alice"
    assert changed.before == {"max_turns": 10, "system_prompt": "Be brief."}
    assert changed.after == {"max_turns": 4, "system_prompt": "Be thorough."}
    assert changed.detail["history_id"] == arm.history.latest().history_id

    arm.save()  # the same values: nothing to record
    assert entries_of(study)[-1].pk == changed.pk

    arm_pk = arm.pk
    arm.delete()
    deleted = entries_of(study)[-1]
    assert deleted.action == "delete" and deleted.object_id == str(arm_pk)
    assert deleted.before["system_prompt"] == "Be thorough." and deleted.after is None


def test_study_and_scenario_changes_go_to_the_study_s_chain(study):
    scenario = make_scenario(study, "belly")
    study.title = "Renamed"
    study.save()
    scenario.title = "Belly ache"
    scenario.save()
    kinds = [(e.action, e.object_type) for e in entries_of(study)]
    assert ("create", "studies.study") in kinds
    assert kinds[-2:] == [("change", "studies.study"), ("change", "studies.scenario")]
    study_change = entries_of(study)[-2]
    assert study_change.before == {"title": "Audited study"}
    assert study_change.after == {"title": "Renamed"}


def test_an_analysis_plan_edited_on_its_page_is_kept_with_who(client, study, alice):
    content = {**default_plan(), "name": "A plan of our own", "alpha": 0.01}
    client.force_login(alice)
    response = client.post(
        reverse("analysis:plan", args=[study.slug]), {"content": json.dumps(content)}
    )
    assert response.status_code == 302
    plans = [e for e in entries_of(study) if e.object_type == "studies.analysisplan"]
    assert plans, "no entry for the analysis plan"
    # Who: the request's user, through django-simple-history's middleware.
    assert plans[-1].actor_label == "alice"
    assert plans[-1].after["content"]["name"] == "A plan of our own"
    assert plans[-1].after["content"]["alpha"] == 0.01


def test_a_change_outside_a_request_is_the_platform_s(study, alice):
    plan_save(study=study, content={**default_plan(), "alpha": 0.02}, changed_by=alice)
    last = entries_of(study)[-1]
    assert last.object_type == "studies.analysisplan" and last.actor is None


def test_an_endpoint_s_changes_go_to_the_global_chain(db):
    endpoint = make_endpoint(name="gpu-1")
    endpoint.timeout_s = 60.0
    endpoint.save()
    last = AuditEntry.objects.filter(chain="global").order_by("seq").last()
    assert last.study_id is None and last.object_type == "studies.modelendpoint"
    assert last.before == {"timeout_s": 10.0} and last.after == {"timeout_s": 60.0}


def test_roles_granted_changed_and_revoked_are_kept_with_who(study, alice, bob):
    make_member(study, bob, "analyst", granted_by=alice)
    last = entries_of(study)[-1]
    assert (last.action, last.object_type, last.actor_label) == (
        "grant",
        "studies.studymembership",
        "alice",
    )
    assert (last.before, last.after) == (None, {"member": "bob", "role": "analyst"})
    membership_grant(study=study, user=bob, role="auditor", granted_by=alice)
    last = entries_of(study)[-1]
    assert (last.action, last.before, last.after) == (
        "change",
        {"member": "bob", "role": "analyst"},
        {"member": "bob", "role": "auditor"},
    )
    count = len(entries_of(study))
    membership_grant(study=study, user=bob, role="auditor", granted_by=alice)  # the same
    assert len(entries_of(study)) == count
    membership_revoke(study=study, user=bob, revoked_by=alice)
    last = entries_of(study)[-1]
    assert (last.action, last.actor_label, last.before, last.after) == (
        "revoke",
        "alice",
        {"member": "bob", "role": "auditor"},
        None,
    )
    membership_revoke(study=study, user=bob, revoked_by=alice)  # no role: nothing recorded
    assert len(entries_of(study)) == count + 1
    assert selectors.chain_verify(chain=chain_for(study.pk)).ok


def test_deleting_a_study_keeps_its_trail_and_records_the_deletions(study):
    make_llm_arm(study, make_endpoint(name="ep2"))
    make_scenario(study, "belly")
    chain = chain_for(study.pk)
    study.delete()
    kept = list(AuditEntry.objects.filter(chain=chain).order_by("seq"))
    deleted = {e.object_type for e in kept if e.action == "delete"}
    assert {"studies.study", "studies.arm", "studies.scenario"} <= deleted
    assert all(e.study_id == kept[0].study_id for e in kept)
    assert selectors.chain_verify(chain=chain).ok
