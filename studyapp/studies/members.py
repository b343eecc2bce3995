"""Writes for a study's members: the only writers of StudyMembership.

Every grant, change and revocation lands on the study's audit trail (audit.history
records each saved or deleted membership, with who did it: `actor` here, else the
request's user)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from studyapp.studies.models import Study, StudyMembership
from studyapp.studies.roles import Role


class MembershipError(Exception):
    """A change of members that may not happen (the message says why)."""


def user_find(*, identifier: str):
    """An existing active user by exact username or e-mail address (case-insensitive
    e-mail); None when there is none or the e-mail names several."""
    identifier = identifier.strip()
    if not identifier:
        return None
    users = list(
        get_user_model()
        .objects.filter(Q(username=identifier) | Q(email__iexact=identifier), is_active=True)
        .order_by("pk")[:2]
    )
    if len(users) == 1:
        return users[0]
    exact = [u for u in users if u.get_username() == identifier]
    return exact[0] if len(exact) == 1 else None


@transaction.atomic
def membership_grant(*, study: Study, user, role: str, granted_by=None) -> StudyMembership:
    """Give `user` this role in the study (changing the role they hold, if any)."""
    if role not in Role.values:
        raise MembershipError(f"Unknown role {role!r}.")
    membership = StudyMembership.objects.select_for_update().filter(study=study, user=user).first()
    if membership is not None and membership.role == role:
        return membership
    if membership is None:
        membership = StudyMembership(study=study, user=user, role=role, granted_by=granted_by)
    else:
        _keep_an_owner(study=study, leaving=membership, new_role=role)
        membership.role = role
        membership.granted_by = granted_by
    membership._audit_actor = granted_by
    membership.full_clean()
    membership.save()
    return membership


@transaction.atomic
def membership_revoke(*, study: Study, user, revoked_by=None) -> None:
    """Take away the user's role in the study; no role: nothing happens."""
    membership = StudyMembership.objects.select_for_update().filter(study=study, user=user).first()
    if membership is None:
        return
    _keep_an_owner(study=study, leaving=membership, new_role=None)
    membership._audit_actor = revoked_by
    membership.delete()


def _keep_an_owner(*, study: Study, leaving: StudyMembership, new_role: str | None) -> None:
    # A study without an owner could not grant roles any more (but by a superuser).
    if leaving.role != Role.OWNER or new_role == Role.OWNER:
        return
    others = (
        StudyMembership.objects.select_for_update()
        .filter(study=study, role=Role.OWNER)
        .exclude(pk=leaving.pk)
    )
    if not others.exists():
        raise MembershipError("A study keeps at least one owner: make someone else owner first.")
