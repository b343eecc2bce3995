"""A study with two arms and three participants, its cast (owner, analyst, blinded
analyst, a stranger) and their API tokens with every scope."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from studyapp.api.models import Scope
from studyapp.api.services import token_create
from studyapp.evaluations.models import EvaluationRun
from studyapp.studies.models import Study
from studyapp.studies.roles import Role
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)


@dataclass
class World:
    study: Study
    users: dict
    secrets: dict  # who -> a token's secret with every scope
    run: EvaluationRun

    def auth(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.secrets[who]}"}


def token_for(user, *scopes: str) -> str:
    return token_create(user=user, name="test", scopes=list(scopes)).secret


@pytest.fixture
def world(db) -> World:
    study = make_study("trial")
    make_scenario(study, "s1")
    make_scenario(study, "s2")
    llm = make_llm_arm(study, make_endpoint(model="secret-model-7b"), key="gpt-arm")
    control = make_control_arm(study)
    users = {"owner": make_user("owner"), "stranger": make_user("stranger")}
    make_member(study, users["owner"], Role.OWNER)
    for role in (Role.ANALYST, Role.BLINDED_ANALYST):
        users[role] = make_user(role.replace("_", "-"))
        make_member(study, users[role], role, granted_by=users["owner"])
    make_participant(study)
    make_participant(study, arm=llm, status="consented", consented_at=study.created_at)
    make_participant(study, arm=control, status="consented", consented_at=study.created_at)
    run = EvaluationRun.objects.create(
        study=study, key="mcq-1", kind=EvaluationRun.Kind.MCQ, status="running"
    )
    secrets = {who: token_for(user, *Scope.values) for who, user in users.items()}
    return World(study=study, users=users, secrets=secrets, run=run)
