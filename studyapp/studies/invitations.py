"""Invitations to a study by e-mail: the only writer of Invitation.

An owner invites an address with a role; the e-mail carries a one-time link whose token
is stored only as its SHA-256. Whoever opens the link signs in (or, having no account,
signs up, which the adapter allows only while such a link is open in their session, and
only with the invited address) and accepts: the membership is granted through
studies.members in the same transaction that closes the invitation. Inviting, sending
again, revoking and accepting are entries on the study's audit trail (never the token).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from studyapp.audit import services as audit
from studyapp.core.ids import new_secret_token
from studyapp.core.ratelimit import fixed_window_wait
from studyapp.studies.members import membership_grant
from studyapp.studies.models import Invitation, Study, StudyMembership
from studyapp.studies.roles import Role

logger = logging.getLogger(__name__)

# The clock rate-limit windows are counted on (tests hold it still).
clock = time.time

# The session remembers the link's hash (never the token) between opening the link and
# accepting, across signing in or up.
SESSION_KEY = "studies.invitation"


class InvitationError(Exception):
    """An invitation that may not be made, sent, revoked or accepted (the message says
    why, in words for the person who asked)."""


class InvitationRateLimited(InvitationError):
    def __init__(self, retry_after_s: int):
        minutes = max(1, math.ceil(retry_after_s / 60))
        super().__init__(
            f"You have sent many invitations recently; try again in {minutes} minutes."
        )
        self.retry_after_s = retry_after_s


class InvitationNotSent(InvitationError):
    """The invitation is saved but its e-mail could not be sent."""


@dataclass(frozen=True)
class Sent:
    invitation: Invitation
    url: str  # the link sent (the raw token is in it): for the mail only, never shown


def token_hash(token: str) -> str:
    # The token has 256 random bits, so a plain hash cannot be reversed by guessing.
    return hashlib.sha256(token.encode()).hexdigest()


def email_normalize(email: str) -> str:
    return BaseUserManager.normalize_email(email.strip()).lower()


def _audit_value(invitation: Invitation) -> dict:
    return {
        "email": invitation.email,
        "role": invitation.role,
        "expires_at": invitation.expires_at,
    }


def _record(invitation: Invitation, *, action: str, actor, before=None, after=None) -> None:
    audit.record(
        study=invitation.study_id,
        actor=actor,
        action=action,
        object_type="studies.invitation",
        object_id=invitation.pk,
        object_repr=invitation.email,
        before=before,
        after=after,
    )


def _rate_limit(user_id: int) -> None:
    """Count one invitation e-mail of this user; InvitationRateLimited over the limit. A
    cache that fails lets it through (logged), as the other rate limits do."""
    wait = fixed_window_wait(
        key=f"invitation-rate:{user_id}",
        limit=settings.INVITATION_RATE_LIMIT,
        window_s=settings.INVITATION_RATE_WINDOW_S,
        now=clock(),
        what="invitation",
    )
    if wait is not None:
        raise InvitationRateLimited(wait)


def _member_with_email(study: Study, email: str) -> StudyMembership | None:
    return (
        StudyMembership.objects.filter(study=study, user__email__iexact=email)
        .select_related("user")
        .first()
    )


def _new_token(invitation: Invitation, now) -> str:
    token = new_secret_token()
    invitation.token_hash = token_hash(token)
    invitation.expires_at = now + timedelta(days=settings.INVITATION_EXPIRY_DAYS)
    return token


def invitation_create(*, study: Study, email: str, role: str, invited_by, site_url: str) -> Sent:
    """Invite `email` to `role` in the study and send the link. `site_url` is the
    scheme and host the link starts with. InvitationNotSent: saved, not e-mailed."""
    if role not in Role.values:
        raise InvitationError(f"Unknown role {role!r}.")
    email = email_normalize(email)
    _rate_limit(invited_by.pk)
    now = timezone.now()
    with transaction.atomic():
        # The study's row serialises invitations of one study, so two owners cannot
        # invite one address twice at once.
        Study.objects.select_for_update().filter(pk=study.pk).first()
        member = _member_with_email(study, email)
        if member is not None:
            raise InvitationError(
                f"{member.user.get_username()} has this address and is already "
                f"{member.get_role_display().lower()} here: change their role above."
            )
        if Invitation.objects.pending(now).filter(study=study, email__iexact=email).exists():
            raise InvitationError(
                "This address has an open invitation: send it again or revoke it below."
            )
        invitation = Invitation(study=study, email=email, role=role, invited_by=invited_by)
        invitation.created_at = now
        token = _new_token(invitation, now)
        invitation.full_clean()
        invitation.save()
        _record(invitation, action="invite", actor=invited_by, after=_audit_value(invitation))
    return _send(invitation, token=token, site_url=site_url)


def invitation_resend(*, invitation: Invitation, resent_by, site_url: str) -> Sent:
    """A new link (the old one stops working) with a new expiry, e-mailed again."""
    _rate_limit(resent_by.pk)
    now = timezone.now()
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.state(now) not in (Invitation.State.PENDING, Invitation.State.EXPIRED):
            raise InvitationError(
                f"This invitation was {invitation.state(now)}: it cannot be sent again."
            )
        before = _audit_value(invitation)
        token = _new_token(invitation, now)
        invitation.sent_at = None
        invitation.save(update_fields=["token_hash", "expires_at", "sent_at"])
        _record(
            invitation,
            action="invite_resend",
            actor=resent_by,
            before=before,
            after=_audit_value(invitation),
        )
    return _send(invitation, token=token, site_url=site_url)


def invitation_revoke(*, invitation: Invitation, revoked_by) -> Invitation:
    """Close an invitation that was not accepted: its link no longer works."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at is not None or invitation.revoked_at is not None:
            raise InvitationError(
                f"This invitation was {invitation.state()} already: nothing to revoke."
            )
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        _record(
            invitation, action="invite_revoke", actor=revoked_by, before=_audit_value(invitation)
        )
    return invitation


def _send(invitation: Invitation, *, token: str, site_url: str) -> Sent:
    """E-mail the link, outside any transaction (a slow mail server holds no lock)."""
    url = site_url.rstrip("/") + reverse("invitations:open", args=[token])
    context = {
        "inviter": invitation.invited_by.get_username() if invitation.invited_by else "",
        "study_title": invitation.study.title,
        "role": Role(invitation.role).label,
        "url": url,
        "expires_at": invitation.expires_at,
    }
    subject = " ".join(render_to_string("studies/email/invitation_subject.txt", context).split())
    body = render_to_string("studies/email/invitation_body.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except Exception as exc:
        logger.warning(
            "invitation %s: the e-mail could not be sent (%s)", invitation.pk, type(exc).__name__
        )
        raise InvitationNotSent(
            "The invitation is saved, but its e-mail could not be sent: try “Send again” "
            "later, or ask the administrator to check the mail settings."
        ) from exc
    Invitation.objects.filter(pk=invitation.pk).update(sent_at=timezone.now())
    return Sent(invitation=invitation, url=url)


# --- The invitee's side -------------------------------------------------------------------


def invitation_by_hash(digest: str | None) -> Invitation | None:
    if not digest:
        return None
    return (
        Invitation.objects.select_related("study", "invited_by").filter(token_hash=digest).first()
    )


def invitation_problem(invitation: Invitation | None, *, now=None) -> str:
    """Why this link cannot be accepted by anyone (empty: it can)."""
    if invitation is None:
        return (
            "This invitation link is not valid. It may have been replaced by a newer one: "
            "use the link in the latest e-mail, or ask the study's owner to invite you again."
        )
    state = invitation.state(now)
    if state == Invitation.State.ACCEPTED:
        return "This invitation has already been accepted. It works only once."
    if state == Invitation.State.REVOKED:
        return "This invitation was withdrawn by the study's owner."
    if state == Invitation.State.EXPIRED:
        return "This invitation has expired. Ask the study's owner to send it again."
    return ""


def invitation_user_problem(invitation: Invitation, user) -> str:
    """Why this signed-in user may not accept it (empty: they may)."""
    if (user.email or "").lower() != invitation.email.lower():
        return (
            "This invitation was sent to another e-mail address than your account's. Sign "
            "in with the account that uses that address, or ask the study's owner to "
            "invite the address of this account."
        )
    if StudyMembership.objects.filter(study_id=invitation.study_id, user=user).exists():
        return "You already hold a role in this study; its owners can change it."
    return ""


def invitation_allows_signup(invitation: Invitation | None) -> bool:
    """A pending invitation lets its invitee sign up, unless an account already has the
    address (they sign in instead)."""
    if invitation is None or invitation_problem(invitation):
        return False
    return not (
        get_user_model().objects.filter(email__iexact=invitation.email, is_active=True).exists()
    )


def invitation_accept(*, digest: str, user) -> StudyMembership:
    """Accept the invitation as `user`: the membership with its role, once. The checks
    run again under the invitation's row lock, so two tabs cannot both accept."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(token_hash=digest).first()
        problem = invitation_problem(invitation) or invitation_user_problem(invitation, user)
        if problem:
            raise InvitationError(problem)
        membership = membership_grant(
            study=invitation.study,
            user=user,
            role=invitation.role,
            # The owner decided the grant; the acceptance is the invitee's own entry.
            granted_by=invitation.invited_by,
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        _record(
            invitation,
            action="invite_accept",
            actor=user,
            before=_audit_value(invitation),
            after={"member": user.get_username(), "role": invitation.role},
        )
    return membership
