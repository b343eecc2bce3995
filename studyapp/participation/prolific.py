"""Recruiter parameters on the entry link (Prolific's PROLIFIC_PID, STUDY_ID, SESSION_ID)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
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


def completion_url_with_code(url: str, code: str) -> str:
    """The study's completion URL, with `cc=<code>` added unless it already carries one.

    Prolific's completion URLs look like .../submissions/complete?cc=CODE; investigators
    may paste either that or the bare address.
    """
    if not url or not code:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "cc" for key, _ in query):
        return url
    return urlunsplit(parts._replace(query=urlencode([*query, ("cc", code)])))
