from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.urls import reverse

from studyapp.studies.models import Study


class InvitationOnlyAccountAdapter(DefaultAccountAdapter):
    """Investigator accounts are created by an administrator, never by public sign-up."""

    def is_open_for_signup(self, request) -> bool:
        return False

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
