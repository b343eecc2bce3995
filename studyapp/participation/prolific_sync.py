"""Prolific in sync: read a study's submissions, bring participants' statuses in line,
and review submissions (approve, reject with a reason, bonuses) from studyapp.

What Prolific knows that studyapp cannot see: that a participant pressed "return" on
Prolific, or that Prolific timed them out, while their session here still looks active.
Such a participant would hold their place (their tasks count toward the quotas) until
studyapp's own inactivity limit, or for ever without one. Syncing moves them to
`returned` / `timed_out` through participant_set_status, and because quotas count only
the statuses in enrolment.counting_statuses (returned and timed-out ones only when the
study counts them), their scenario cells open again for the next participant: the place
is reclaimed by the quota rule, with nothing deleted.

Submissions are matched to participants by PROLIFIC_PID (unique per study). The mapping
is a pure function (`planned_status`), so every pair of statuses is tested without a
server; the sync is idempotent (a second run changes nothing) and safe beside live
requests (each change re-checks the status under the participant's row lock).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from studyapp.participation.models import Participant, ProlificSync
from studyapp.participation.prolific_api import (
    ProlificClient,
    ProlificError,
    ProlificNotConfiguredError,
    SubmissionInfo,
    study_token,
)
from studyapp.participation.transitions import ALLOWED, participant_set_status
from studyapp.studies.models import Study

logger = logging.getLogger(__name__)

S = Participant.Status

# Prolific's statuses for a submission that has ended without a code here: the
# participant left, so their place is free (when the study does not count them).
_LEFT = {"RETURNED": S.RETURNED, "TIMED-OUT": S.TIMED_OUT, "SCREENED OUT": S.SCREENED_OUT}
# Prolific statuses that say nothing new about the session here: still taking part, or a
# code was submitted (the review states) — how the session ended is studyapp's record.
_NO_CHANGE = {
    "RESERVED",
    "ACTIVE",
    "AWAITING REVIEW",
    "APPROVED",
    "REJECTED",
    "PARTIALLY APPROVED",
}
REVIEWABLE = "AWAITING REVIEW"


def planned_status(*, prolific_status: str, current: str) -> str | None:
    """The status a participant should move to given their submission's Prolific status,
    or None for no change (pure).

    Only an active session (started or consented) is moved: an ended one is studyapp's
    own record (a participant who completed here and then returned on Prolific keeps
    their data and status; the investigator sees the mismatch in the report). A move the
    status rules do not allow (screened out before consent) is no change either.
    """
    target = _LEFT.get(prolific_status)
    if target is None or current not in (S.STARTED, S.CONSENTED):
        return None
    return target if target in ALLOWED.get(current, set()) else None


@dataclass
class SyncReport:
    """What one sync saw and did (counts and participant ids only, never PIDs)."""

    submissions: int = 0
    by_prolific_status: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)  # new status -> how many
    unmatched: int = 0  # submissions whose PID never entered the study here
    # Participant ids whose session ended here differently from Prolific's record, or is
    # active here while Prolific holds a code or an ending we may not apply.
    mismatched: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "submissions": self.submissions,
            "by_prolific_status": dict(sorted(self.by_prolific_status.items())),
            "changed": dict(sorted(self.changed.items())),
            "unmatched": self.unmatched,
            "mismatched": sorted(self.mismatched),
        }


_AGREES = {
    "RETURNED": {S.RETURNED, S.WITHDRAWN},
    "TIMED-OUT": {S.TIMED_OUT},
    "SCREENED OUT": {S.SCREENED_OUT, S.CONSENT_DECLINED, S.STUDY_FULL, S.FAILED_CHECK},
}


def _mismatch(prolific_status: str, current: str) -> bool:
    """Whether the two records disagree in a way an investigator should look at."""
    active = current in (S.STARTED, S.CONSENTED)
    if prolific_status in ("RESERVED", "ACTIVE"):
        return False
    if prolific_status in _AGREES:
        return current not in _AGREES[prolific_status]
    # A code was submitted (awaiting review or reviewed) while the session is open here.
    return active


def _client(study: Study, client: ProlificClient | None) -> ProlificClient:
    if not study.prolific_study_id:
        raise ProlificNotConfiguredError(f"Study {study.slug} has no Prolific STUDY_ID.")
    return client or ProlificClient.for_study(study.slug)


def study_submissions(
    *, study: Study, client: ProlificClient | None = None
) -> list[SubmissionInfo]:
    return _client(study, client).submissions(study.prolific_study_id)


def study_sync_prolific(*, study_id: int, client: ProlificClient | None = None) -> SyncReport:
    """Read the study's submissions on Prolific and apply them to its participants."""
    study = Study.objects.get(pk=study_id)
    submissions = study_submissions(study=study, client=client)
    # One submission per participant and study on Prolific; if a PID shows up twice the
    # last listed wins.
    by_pid = {s.participant_id: s for s in submissions}
    participants = dict(
        Participant.objects.humans(include_pilot=True)
        .filter(study=study, prolific_pid__in=list(by_pid))
        .values_list("prolific_pid", "pk")
    )
    report = SyncReport(submissions=len(submissions))
    report.by_prolific_status.update(s.status for s in submissions)
    report.unmatched = len(set(by_pid) - set(participants))
    now = timezone.now()
    for pid, participant_id in sorted(participants.items(), key=lambda item: item[1]):
        submission = by_pid[pid]
        new, current = submission_apply(
            participant_id=participant_id, submission=submission, now=now
        )
        if new:
            report.changed[new] += 1
        elif _mismatch(submission.status, current):
            report.mismatched.append(participant_id)
    _snapshot_save(study=study, submissions=submissions, participants=participants, report=report)
    logger.info(
        "prolific sync of study %s: %d submissions, changed %s, %d unmatched, %d mismatched",
        study.pk,
        report.submissions,
        dict(report.changed),
        report.unmatched,
        len(report.mismatched),
    )
    return report


def _snapshot_save(
    *,
    study: Study,
    submissions: Sequence[SubmissionInfo],
    participants: dict[str, int],
    report: SyncReport,
) -> ProlificSync:
    """Keep what this sync read (no PIDs: the participant here each matched) for the
    Prolific page, which renders from it instead of asking Prolific on every visit."""
    rows = [
        {
            "id": s.id,
            "status": s.status,
            "participant": participants.get(s.participant_id),
            "bonus_cents": sum(s.bonus_payments),
        }
        for s in submissions
    ]
    snapshot, _ = ProlificSync.objects.update_or_create(
        study=study,
        defaults={"synced_at": timezone.now(), "submissions": rows, "report": report.as_dict()},
    )
    return snapshot


def study_prolific_configured(*, study: Study) -> None:
    """ProlificNotConfiguredError when the study cannot be synced (no STUDY_ID, no
    token), without a request to Prolific."""
    if not study.prolific_study_id:
        raise ProlificNotConfiguredError(f"Study {study.slug} has no Prolific STUDY_ID.")
    study_token(study.slug)


@transaction.atomic
def submission_apply(
    *, participant_id: int, submission: SubmissionInfo, now: datetime | None = None
) -> tuple[str | None, str]:
    """Apply one submission (from a sync or a webhook) under the participant's row lock;
    (new status or None, the status it had)."""
    now = now or timezone.now()
    participant = Participant.objects.select_for_update(of=("self",)).get(pk=participant_id)
    extra: tuple[str, ...] = ()
    if not participant.prolific_session_id:
        # Prolific's SESSION_ID is the submission id; a link opened without it still gets
        # it, so reviews here can name the submission.
        participant.prolific_session_id = submission.id
        extra = ("prolific_session_id",)
    current = participant.status
    target = planned_status(prolific_status=submission.status, current=current)
    if target is None:
        if extra:
            participant.save(update_fields=[*extra, "updated_at"])
        return None, current
    participant_set_status(
        participant=participant,
        to=target,
        reason=f"Prolific: {submission.status}",
        now=now,
        extra_fields=extra,
    )
    return target, current


def studies_sync_prolific() -> int:
    """Sync every running (enrolling or paused) study recruited on Prolific that has a
    token; how many were.

    A study without a token is skipped quietly (it may be recruited without the API); a
    Prolific error for one study is logged and does not stop the others.
    """
    synced = 0
    for study in Study.objects.exclude(prolific_study_id="").only("pk", "slug", "status"):
        if not study.is_running:  # a paused study's participants still submit
            continue
        try:
            study_sync_prolific(study_id=study.pk)
        except ProlificNotConfiguredError:
            continue
        except ProlificError as exc:
            logger.warning("prolific sync of study %s failed: %s", study.pk, exc)
            continue
        synced += 1
    return synced


# --- Review -----------------------------------------------------------------------------


class ReviewRefusedError(ProlificError):
    """The submissions asked for are not this study's, or not awaiting review."""


def _reviewable(study: Study, client: ProlificClient, submission_ids: Sequence[str]) -> list[str]:
    """The ids, checked against the study's current list on Prolific: a form cannot
    name another study's submission, nor one already reviewed."""
    wanted = list(dict.fromkeys(submission_ids))
    if not wanted:
        raise ReviewRefusedError("Choose at least one submission.")
    current = {s.id: s.status for s in client.submissions(study.prolific_study_id)}
    refused = [i for i in wanted if current.get(i) != REVIEWABLE]
    if refused:
        raise ReviewRefusedError(
            f"{len(refused)} of the chosen submissions are not awaiting review in this study."
        )
    return wanted


def prolific_approve(
    *,
    study: Study,
    submission_ids: Sequence[str],
    user_id: int,
    client: ProlificClient | None = None,
) -> int:
    """Approve submissions awaiting review (one bulk call); how many."""
    client = _client(study, client)
    ids = _reviewable(study, client, submission_ids)
    client.bulk_approve(ids)
    logger.info(
        "user %s approved %d prolific submissions of study %s", user_id, len(ids), study.pk
    )
    return len(ids)


def prolific_reject(
    *,
    study: Study,
    submission_ids: Sequence[str],
    category: str,
    message: str,
    user_id: int,
    client: ProlificClient | None = None,
) -> int:
    """Reject submissions awaiting review, each with the category and written reason
    Prolific requires (sent to the participant); how many."""
    client = _client(study, client)
    ids = _reviewable(study, client, submission_ids)
    for submission_id in ids:
        client.reject(submission_id, category=category, message=message)
    logger.info(
        "user %s rejected %d prolific submissions of study %s (%s)",
        user_id,
        len(ids),
        study.pk,
        category,
    )
    return len(ids)


def prolific_pay_bonuses(
    *,
    study: Study,
    rows: Sequence[tuple[str, Decimal]],
    user_id: int,
    client: ProlificClient | None = None,
) -> str:
    """Set up and pay one bulk bonus (submission id, amount); the bonus payment's id.

    The ids are checked to be this study's submissions first. Prolific's pay call is not
    idempotent, so it is made once, after the set-up succeeded, and never retried.
    """
    client = _client(study, client)
    known = {s.id for s in client.submissions(study.prolific_study_id)}
    if not rows or any(who not in known or amount <= 0 for who, amount in rows):
        raise ReviewRefusedError("Bonuses go to this study's submissions, with amounts over 0.")
    bonus_id = client.set_up_bonuses(study.prolific_study_id, rows)
    client.pay_bonuses(bonus_id)
    logger.info(
        "user %s paid bonuses to %d prolific submissions of study %s (bulk %s)",
        user_id,
        len(rows),
        study.pk,
        bonus_id,
    )
    return bonus_id
