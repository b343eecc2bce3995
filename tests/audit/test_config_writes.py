"""Configuration written by the services under a row lock (a status, a quota, a scenario
version's deactivation, the plan's lock, the condition labels) is kept by
django-simple-history like any other change: a historical row, and the entry on the
study's chain with who and the values before and after."""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.test import RequestFactory
from django.utils import timezone
from simple_history.models import HistoricalRecords

from studyapp.audit.models import AuditEntry
from studyapp.participation.models import Task
from studyapp.studies import builder
from studyapp.studies.importers import read_jsonl, scenarios_import
from studyapp.studies.launch import study_launch
from studyapp.studies.models import Scenario, Study
from studyapp.studies.pausing import study_pause, study_resume
from studyapp.studies.quotas import study_quota_per_arm_set
from studyapp.studies.services import (
    plan_current,
    plan_lock_at_first_allocation,
    scenario_create_new_version,
    study_condition_labels_set,
)
from tests.factories import make_participant, make_scenario, make_study
from tests.studies.test_import_scenarios import scenario_line, write_jsonl
from tests.studies.test_launch import ready_study


def last_entry(study: Study, object_type: str, object_id=None) -> AuditEntry:
    entries = AuditEntry.objects.of_study(study).filter(object_type=object_type)
    if object_id is not None:
        entries = entries.filter(object_id=str(object_id))
    return entries.order_by("seq").last()


@contextlib.contextmanager
def request_by(user):
    """What django-simple-history's middleware does for a request of `user`."""
    request = RequestFactory().post("/")
    request.user = user
    HistoricalRecords.context.request = request
    try:
        yield
    finally:
        del HistoricalRecords.context.request


def used(scenario: Scenario) -> Scenario:
    Task.objects.create(
        participant=make_participant(scenario.study), scenario=scenario, position=1
    )
    return scenario


def test_a_quota_set_from_the_power_page_is_kept_with_who(alice):
    study = make_study("q", status=Study.Status.DRAFT, quota_per_arm=40)
    study_quota_per_arm_set(study=study, quota=272, set_by=alice)
    entry = last_entry(study, "studies.study")
    assert (entry.action, entry.actor_label) == ("change", "alice")
    assert (entry.before, entry.after) == ({"quota_per_arm": 40}, {"quota_per_arm": 272})
    assert study.history.latest().quota_per_arm == 272


def test_a_launch_is_kept_with_who_and_the_status_before_and_after(scripted, alice):
    study = ready_study(scripted.base_url)
    study_launch(study=study, launched_by=alice)
    entry = last_entry(study, "studies.study")
    assert (entry.action, entry.actor_label) == ("launch", "alice")
    assert (entry.before, entry.after) == ({"status": "draft"}, {"status": "live"})
    assert study.history.latest().status == Study.Status.LIVE


def test_pausing_and_resuming_are_in_the_history_once_each(study, alice):
    study_pause(study_id=study.pk, user=alice)
    study_resume(study_id=study.pk, user=alice)
    history = study.history.order_by("history_id")
    assert [h.status for h in history][-2:] == ["paused", "live"]
    assert all(h.history_user == alice for h in list(history)[-2:])
    entries = AuditEntry.objects.of_study(study).filter(object_type="studies.study")
    assert [e.action for e in entries.order_by("seq")][-2:] == ["pause", "resume"]
    assert not entries.filter(action="change").exists()  # one entry each, not two
    pause = entries.get(action="pause")
    assert (pause.actor_label, pause.before, pause.after) == (
        "alice",
        {"status": "live"},
        {"status": "paused"},
    )


def test_a_new_version_from_the_admin_keeps_the_old_one_s_deactivation(study, alice):
    old = used(make_scenario(study, "belly"))
    with request_by(alice):
        new = scenario_create_new_version(scenario_id=old.pk)
    entry = last_entry(study, "studies.scenario", old.pk)
    assert (entry.action, entry.actor_label) == ("change", "alice")
    assert (entry.before, entry.after) == ({"is_active": True}, {"is_active": False})
    assert old.history.latest().is_active is False
    assert new.is_active


def test_a_new_version_from_the_builder_keeps_the_old_one_s_deactivation(study, alice):
    old = used(make_scenario(study, "belly"))
    with request_by(alice):
        new, is_new = builder.scenario_save(
            study=study,
            scenario_id=old.pk,
            values={**{n: getattr(old, n) for n in builder.SCENARIO_FIELDS}, "title": "Belly"},
        )
    assert is_new and new.version == 2
    entry = last_entry(study, "studies.scenario", old.pk)
    assert (entry.actor_label, entry.before, entry.after) == (
        "alice",
        {"is_active": True},
        {"is_active": False},
    )


def test_a_new_version_from_an_import_keeps_the_old_one_s_deactivation(study, tmp_path: Path):
    level = study.disposition_scale.levels.order_by("-value").first()
    line = scenario_line(key="chest", gold_disposition=level.code, red_flags=[])
    line.pop("condition_synonyms")
    scenarios_import(study=study, bundle=read_jsonl(write_jsonl(tmp_path / "a.jsonl", line)))
    old = used(Scenario.objects.get(study=study, key="chest"))
    changed = dict(line, gold_conditions=["pericarditis"])
    scenarios_import(study=study, bundle=read_jsonl(write_jsonl(tmp_path / "b.jsonl", changed)))
    entry = last_entry(study, "studies.scenario", old.pk)
    assert entry.action == "change" and entry.actor is None  # a command: the platform
    assert (entry.before, entry.after) == ({"is_active": True}, {"is_active": False})


def test_condition_labels_set_on_the_study_are_kept_with_who(study, alice):
    study_condition_labels_set(study=study, condition_labels="reference", changed_by=alice)
    entry = last_entry(study, "studies.study")
    assert (entry.action, entry.actor_label) == ("change", "alice")
    assert entry.after == {"condition_labels": "reference"}
    assert study.history.latest().condition_labels == "reference"


def test_the_plan_s_lock_at_the_first_allocation_is_kept(study):
    plan = plan_current(study=study)
    now = timezone.now()
    plan_lock_at_first_allocation(study=study, design={"arms": ["a", "b"]}, now=now)
    entry = last_entry(study, "studies.analysisplan", plan.pk)
    assert entry.action == "change"
    assert entry.before == {"design_sha256": "", "locked_at": None}
    assert entry.after["locked_at"] and entry.after["design_sha256"]
    plan.refresh_from_db()
    assert plan.history.latest().locked_at == plan.locked_at
