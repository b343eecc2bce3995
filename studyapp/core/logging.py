"""Logs that never keep a participant's credentials.

A participant's link token opens their session (`/p/<token>/...`, `/ws/p/<token>/...`),
as an invitation's token opens an invitation to a study (`/invite/<token>/`),
and Prolific's PROLIFIC_PID, STUDY_ID and SESSION_ID arrive in the entry link's query
string. Access logs (uvicorn's, runserver's) and error logs (`django.request`: "Not Found:
/p/<token>/") would write them down, and a log file outlives a participant's withdrawal.
`RedactingFilter` sits on every handler (settings.LOGGING, deploy/uvicorn-log.json) and
rewrites a record before any handler writes it:

    /p/<token>/consent?PROLIFIC_PID=5f...&x=1  ->  /p/[token]/consent?PROLIFIC_PID=[redacted]&x=1

No Django import here: uvicorn loads this module through `--log-config` before Django is
set up.
"""

from __future__ import annotations

import logging
import re
from typing import Any

TOKEN_MASK = "[token]"  # noqa: S105 (what replaces a token, not one)
VALUE_MASK = "[redacted]"

# A participant path is /p/<segment> or /ws/p/<segment> at the *start* of a path: after
# the start of the text, whitespace, a quote, a bracket or "=", or after "//host[:port]"
# (an absolute URL). Anchoring keeps an investigator path like /studies/p/ (a study
# slugged "p") readable. The segment is redacted whatever it holds, forged or not.
_PARTICIPANT_PATH = re.compile(
    r"""(?P<before>^|[\s"'(<\[=,]|//[^/\s"'<>]*)(?P<path>/(?:(?:ws/)?p|invite)/)[^/?#\s"'<>]+"""
)
# Prolific's parameters in a query string, in any case, also URL-encoded inside another
# parameter (`next=%2Fs%2Fx%2F%3FPROLIFIC_PID%3D...%26...`). Not after a letter, digit or
# "_", so `prolific_study_id=` (a field name) is not one of them.
_PROLIFIC_PARAM = re.compile(
    r"""(?i)(?:(?<![A-Za-z0-9_])|(?<=%3F)|(?<=%26))"""
    r"""(?P<name>(?:prolific_pid|study_id|session_id)(?:=|%3D))"""
    r"""(?:(?!%26)[^&;#\s"'<>])*"""
)


def redact(text: str) -> str:
    """`text` with participant tokens in paths and Prolific's ids in query strings masked."""
    if "p/" in text or "invite/" in text:
        text = _PARTICIPANT_PATH.sub(rf"\g<before>\g<path>{TOKEN_MASK}", text)
    if "_" in text:
        text = _PROLIFIC_PARAM.sub(rf"\g<name>{VALUE_MASK}", text)
    return text


def _redact_arg(value: Any) -> Any:
    # Numbers stay numbers (uvicorn's access formatter reads the status code as an int; a
    # "%d" must still find one). Anything else is checked through its str(): a request
    # object prints its path. It is replaced only if that text needed redacting.
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value)
    try:
        text = str(value)
    except Exception:
        return value
    clean = redact(text)
    return value if clean == text else clean


def _request_reveals(request: Any) -> bool:
    """Whether a request object attached to a record names a participant's credentials."""
    try:
        seen = [request.get_full_path(), str(request.META.get("HTTP_REFERER", ""))]
    except Exception:
        return False
    return any(redact(text) != text for text in seen)


class RedactingFilter(logging.Filter):
    """Masks participant tokens and Prolific ids in a record's message, arguments,
    traceback and attached request. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        else:
            record.msg = _redact_arg(record.msg)
        if isinstance(record.args, dict):
            record.args = {key: _redact_arg(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_redact_arg(value) for value in record.args)
        try:
            message = record.getMessage()
        except Exception:
            # The handler reports the broken format itself (from the redacted msg and args).
            message = ""
        clean = redact(message)
        if clean != message:
            # A credential split across the format and its arguments: keep the whole
            # message, redacted, as plain text.
            record.msg, record.args = clean, ()
        # django.request attaches the request (path, query string, Referer): a handler
        # that renders it (an error e-mail, an error tracker) would print them.
        request = getattr(record, "request", None)
        if request is not None and _request_reveals(request):
            record.request = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the redacted traceback is the one
            # every handler writes.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
