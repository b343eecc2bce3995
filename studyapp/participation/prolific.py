"""Recruiter parameters on the entry link (Prolific's PROLIFIC_PID, STUDY_ID, SESSION_ID)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Prolific ids are 24 hex characters; allow any short id of safe characters so other
# recruiters (and pilots typing "pilot-1") work, but never store markup or an unreplaced
# placeholder such as "{{%PROLIFIC_PID%}}".
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

PARAMS = {"PROLIFIC_PID": "pid", "STUDY_ID": "study_id", "SESSION_ID": "session_id"}


class BadEntryParameterError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"malformed entry parameter {name}")
        self.name = name


@dataclass(frozen=True)
class ProlificParams:
    pid: str = ""
    study_id: str = ""
    session_id: str = ""


def parse_prolific_params(query: Mapping[str, str]) -> ProlificParams:
    """Read and validate the recruiter parameters; absent or empty ones are ''."""
    values: dict[str, str] = {}
    for name, attr in PARAMS.items():
        raw = query.get(name, "")
        if raw == "":
            values[attr] = ""
            continue
        if not _ID_RE.fullmatch(raw):
            raise BadEntryParameterError(name)
        values[attr] = raw
    return ProlificParams(**values)


class EntryRefusal(StrEnum):
    """Why a Prolific study's entry link cannot enrol anyone (nothing is created)."""

    MISSING_PID = "missing_pid"  # 400: not opened from Prolific
    WRONG_STUDY = "wrong_study"  # 403: a STUDY_ID missing or not this study's


def prolific_entry_refusal(
    *, prolific_study_id: str, params: ProlificParams
) -> EntryRefusal | None:
    """For a study recruited on Prolific (its STUDY_ID set), the entry link must carry a
    PROLIFIC_PID and that STUDY_ID; other studies take any link."""
    if not prolific_study_id:
        return None
    if not params.pid:
        return EntryRefusal.MISSING_PID
    if params.study_id != prolific_study_id:
        return EntryRefusal.WRONG_STUDY
    return None


def completion_url_with_code(url: str, code: str) -> str:
    """The study's completion URL carrying `cc=<code>`.

    Prolific's completion URLs look like .../submissions/complete?cc=CODE; investigators
    may paste either that or the bare address. The code of the outcome wins over a `cc`
    already in the pasted URL, so the code on the page and the one sent never differ.
    """
    if not url or not code:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cc"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("cc", code)])))


def stratum_from_entry(raw: str, allowed: Sequence[str]) -> str:
    """The stratum an entry-link parameter gives: an accepted value, or '' (unspecified).

    With no list of accepted values, any well-formed value is a stratum of its own.
    """
    if not raw or not _ID_RE.fullmatch(raw):
        return ""
    if allowed and raw not in allowed:
        return ""
    return raw


class Outcome(StrEnum):
    """How a session ended, as Prolific distinguishes them (one completion code each)."""

    COMPLETED = "completed"
    SCREENED_OUT = "screened_out"  # also: declined consent
    TIMED_OUT = "timed_out"
    FAILED_CHECK = "failed_check"
    STUDY_FULL = "study_full"
    TECHNICAL_PROBLEM = "technical_problem"  # left after the model kept failing
    WITHDRAWN = "withdrawn"  # no code: Prolific asks them to return the submission


OUTCOME_FOR_STATUS = {
    "completed": Outcome.COMPLETED,
    "consent_declined": Outcome.SCREENED_OUT,
    "screened_out": Outcome.SCREENED_OUT,
    "timed_out": Outcome.TIMED_OUT,
    "failed_check": Outcome.FAILED_CHECK,
    "study_full": Outcome.STUDY_FULL,
    "technical_problem": Outcome.TECHNICAL_PROBLEM,
    "withdrawn": Outcome.WITHDRAWN,
    "returned": Outcome.WITHDRAWN,
}

# The Study field holding each outcome's completion code.
CODE_FIELD = {
    Outcome.COMPLETED: "completion_code",
    Outcome.SCREENED_OUT: "code_screened_out",
    Outcome.TIMED_OUT: "code_timed_out",
    Outcome.FAILED_CHECK: "code_failed_check",
    Outcome.STUDY_FULL: "code_study_full",
    Outcome.TECHNICAL_PROBLEM: "code_technical_problem",
}


@dataclass(frozen=True)
class Exit:
    outcome: Outcome
    code: str  # '' when the study set none for this outcome
    url: str  # where to send them back ('' when the study has no completion URL)


def outcome_exit(*, outcome: Outcome, codes: Mapping[str, str], completion_url: str) -> Exit:
    """The code and return URL for an outcome; `codes` maps CODE_FIELD names to codes."""
    field = CODE_FIELD.get(outcome)
    code = (codes.get(field) or "") if field else ""
    if not completion_url or outcome == Outcome.WITHDRAWN:
        return Exit(outcome, code, "")
    if code:
        return Exit(outcome, code, completion_url_with_code(completion_url, code))
    if outcome == Outcome.COMPLETED:
        # No code field set: the pasted URL is used as it is (it may carry the code).
        return Exit(outcome, code, completion_url)
    # Another outcome without a code of its own goes back without one, never with the
    # completed participants' code.
    parts = urlsplit(completion_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cc"]
    return Exit(outcome, code, urlunsplit(parts._replace(query=urlencode(query))))
