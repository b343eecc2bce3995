"""Participant identifiers in exports: pseudonyms by default, raw Prolific ids on record.

An export names a Prolific participant by a pseudonym: HMAC-SHA256 of the study's id and
the PID under a key of this server, cut to PSEUDONYM_HEX hex digits. The same PID gets
the same pseudonym in every export of one study (rows can be followed across exports and
tables) and a different one in another study (studies cannot be linked through it);
without the key nobody can compute it from a PID, though Prolific PIDs are far from
random. The key is settings.EXPORT_PSEUDONYM_KEY or, when that is empty, SECRET_KEY;
either way it is first hashed with SALT (django.utils.crypto.salted_hmac), so the
pseudonyms share no key with signed cookies or participant links.

Raw PIDs and SESSION_IDs (to pay bonuses, to answer Prolific) leave only in exports asked
for with `identifiers=raw`, never blinded, by an investigator of the study who recorded
why (a RawIdentifierRelease, valid for RELEASE_VALID_FOR); each such export is recorded
(RawIdentifierDownload) and logged, without any PID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from studyapp.analysis.models import RawIdentifierDownload, RawIdentifierRelease
from studyapp.studies import roles
from studyapp.studies.models import Study

logger = logging.getLogger(__name__)

SALT = "studyapp.analysis.identifiers.pseudonym"
PSEUDONYM_HEX = 16
RELEASE_VALID_FOR = timedelta(hours=24)


class RawIdentifiersRefused(Exception):
    """An export with raw identifiers that may not happen (the message says why)."""


def pseudonymizer(*, study_id: int) -> Callable[[str | None], str | None]:
    """The function from a PID (empty: none) to its pseudonym in this study."""
    secret = settings.EXPORT_PSEUDONYM_KEY or settings.SECRET_KEY

    def pseudonym(pid: str | None) -> str | None:
        if not pid:
            return None
        # The study id is an integer, so "<id>:<pid>" cannot be read two ways.
        digest = salted_hmac(SALT, f"{study_id}:{pid}", secret=secret, algorithm="sha256")
        return digest.hexdigest()[:PSEUDONYM_HEX]

    return pseudonym


def user_may_release(*, study: Study, user) -> bool:
    """A member of the study whose role may release raw ids (studies.roles: owner,
    collaborator, analyst). A superuser must hold such a role too: the release is a
    member's, on the study's record."""
    return roles.member_role(user, study) in roles.roles_with(roles.RELEASE_IDENTIFIERS)


REFUSED = "Only the study's owners, collaborators and analysts can release raw ids."


def raw_release_create(*, study: Study, user, reason: str) -> RawIdentifierRelease:
    """Record a member's reason for exporting raw identifiers."""
    if not user_may_release(study=study, user=user):
        raise RawIdentifiersRefused(REFUSED)
    release = RawIdentifierRelease(study=study, user=user, reason=reason.strip())
    release.full_clean()
    release.save()
    logger.info("raw identifier release %s: study %s, user %s", release.pk, study.pk, user.pk)
    return release


def raw_release_current(*, study: Study, user) -> RawIdentifierRelease | None:
    """The user's latest release for this study, if it is still valid."""
    since = timezone.now() - RELEASE_VALID_FOR
    return (
        RawIdentifierRelease.objects.filter(study=study, user=user, created_at__gte=since)
        .order_by("-created_at", "-pk")
        .first()
    )


def raw_export_authorise(*, study: Study, user, blinded: bool, what: str) -> RawIdentifierDownload:
    """Check that `user` may export raw identifiers now and record that they do.

    Raises RawIdentifiersRefused in a blinded export (blinded files go to analysts kept
    away from who is who; paying participants is never their job) and without a current
    release by this user."""
    if blinded:
        raise RawIdentifiersRefused("Raw identifiers are never exported blinded.")
    # A role taken away since the release takes its raw ids away too.
    if not user_may_release(study=study, user=user):
        raise RawIdentifiersRefused(REFUSED)
    release = raw_release_current(study=study, user=user)
    if release is None:
        raise RawIdentifiersRefused(
            "Raw Prolific ids need a recorded reason first (analysis page, Download the data)."
        )
    download = RawIdentifierDownload(release=release, what=what)
    download.full_clean()
    download.save()
    logger.info(
        "raw identifiers exported: study %s, user %s, %s (release %s)",
        study.pk,
        user.pk,
        what,
        release.pk,
    )
    return download
