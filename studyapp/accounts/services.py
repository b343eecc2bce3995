"""Writes for accounts: giving a user the investigator role."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

INVESTIGATORS_GROUP = "investigators"

# What an investigator may do in the admin. Participant data is view-only for everyone
# (the admin classes refuse changes whatever the permissions say).
_INVESTIGATOR_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "studies": (
        "view_dispositionscale",
        "view_dispositionlevel",
        "view_study",
        "change_study",
        "view_scenario",
        "add_scenario",
        "change_scenario",
        "view_modelendpoint",
        "view_arm",
        "add_arm",
        "change_arm",
    ),
    "participation": ("view_participant", "view_task", "view_answer"),
    "chat": ("view_conversation", "view_message"),
}


@transaction.atomic
def investigator_group_get_or_create() -> Group:
    group, _ = Group.objects.get_or_create(name=INVESTIGATORS_GROUP)
    for app_label, codenames in _INVESTIGATOR_PERMISSIONS.items():
        permissions = Permission.objects.filter(
            content_type__app_label=app_label, codename__in=codenames
        )
        group.permissions.add(*permissions)
    return group


@transaction.atomic
def user_make_investigator(*, user) -> None:
    """Staff access to the admin, with the investigator permissions (not a superuser)."""
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(investigator_group_get_or_create())
