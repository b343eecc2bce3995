"""The admin by role: a staff member reaches a study's objects there only as its owner or
collaborator; read-only roles use the study's pages; the trails are superusers' alone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from studyapp.accounts.services import user_make_investigator
from studyapp.audit import services as audit
from tests.factories import make_member, make_scenario, make_study, make_user


@pytest.fixture
def staff(db):
    carol = make_user("carol")
    user_make_investigator(user=carol)
    return carol


@pytest.mark.parametrize(
    ("role", "reaches"),
    [
        ("owner", True),
        ("collaborator", True),
        ("analyst", False),
        ("blinded_analyst", False),
        ("auditor", False),
    ],
)
def test_a_staff_member_reaches_a_study_in_the_admin_only_to_change_it(
    client, staff, role, reaches
):
    study = make_study("alpha")
    scenario = make_scenario(study, "belly")
    make_member(study, staff, role)
    client.force_login(staff)
    pages = [
        reverse("admin:studies_study_change", args=[study.pk]),
        reverse("admin:studies_scenario_change", args=[scenario.pk]),
    ]
    for page in pages:
        status = client.get(page).status_code
        assert (status == 200) == reaches, (page, status)
    listed = client.get(reverse("admin:studies_study_changelist")).content.decode()
    assert ("alpha" in listed) == reaches


def test_the_audit_trail_and_raw_id_releases_are_superusers_alone_in_the_admin(client, staff):
    study = make_study("alpha")
    make_member(study, staff)
    audit.record(study=study, action="view", object_type="x", object_id=1)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_auditentry", "view_rawidentifierrelease"])
    )
    client.force_login(staff)
    for name in (
        "admin:audit_auditentry_changelist",
        "admin:analysis_rawidentifierrelease_changelist",
    ):
        assert client.get(reverse(name)).status_code == 403
    client.force_login(make_user("root", superuser=True))
    for name in (
        "admin:audit_auditentry_changelist",
        "admin:analysis_rawidentifierrelease_changelist",
    ):
        assert client.get(reverse(name)).status_code == 200


def test_only_superusers_edit_memberships_in_the_admin(client, staff):
    study = make_study("alpha")
    make_member(study, staff)
    url = reverse("admin:studies_study_change", args=[study.pk])
    client.force_login(staff)  # an owner grants roles on the Members page
    assert "memberships-TOTAL_FORMS" not in client.get(url).content.decode()
    client.force_login(make_user("root", superuser=True))
    assert "memberships-TOTAL_FORMS" in client.get(url).content.decode()
