from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter


class InvitationOnlyAccountAdapter(DefaultAccountAdapter):
    """Investigator accounts are created by an administrator, never by public sign-up."""

    def is_open_for_signup(self, request) -> bool:
        return False
