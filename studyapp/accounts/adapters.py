from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from studyapp.studies.invitations import SESSION_KEY, invitation_allows_signup, invitation_by_hash
from studyapp.studies.models import Study


class InvitationOnlyAccountAdapter(DefaultAccountAdapter):
    """Investigator accounts are created by an administrator, or through an invitation to
    a study (studies.invitations): never by public sign-up.

    Sign-up is open only to a visitor whose session holds an open invitation's link, for
    an address no account has yet, and the account takes that address: the link was
    sent there, so whoever holds it reads that mailbox.
    """

    def _invitation(self, request):
        session = getattr(request, "session", None)
        invitation = invitation_by_hash(session.get(SESSION_KEY) if session else None)
        return invitation if invitation_allows_signup(invitation) else None

    def is_open_for_signup(self, request) -> bool:
        return self._invitation(request) is not None

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        invitation = self._invitation(request)
        if invitation is None:  # closed between the form and now (revoked, expired)
            raise PermissionDenied("Sign-up is open only through an invitation.")
        user.email = invitation.email
        if commit:
            user.save()
        return user

    def get_signup_redirect_url(self, request) -> str:
        # Back to the invitation (the new account now has its address) to accept it.
        if request.session.get(SESSION_KEY):
            return reverse("invitations:accept")
        return super().get_signup_redirect_url(request)

    def get_login_redirect_url(self, request) -> str:
        """A user who only rates lands on their rating queues, not an empty studies list.

        (Someone who is both investigator and rater gets the studies list, which links to
        their ratings.) A `next` the login page was given still wins: allauth reads it
        before it asks the adapter.
        """
        user = request.user
        if (
            not user.is_superuser
            and not Study.objects.visible_to(user).exists()
            and user.rater_roles.filter(is_active=True).exists()
        ):
            return reverse("ratings:home")
        return super().get_login_redirect_url(request)
