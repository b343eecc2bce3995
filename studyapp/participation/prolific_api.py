"""A small client for Prolific's API: the submissions of a study, approve/reject, bonuses.

Only the calls studyapp makes, as Prolific documents them
(https://docs.prolific.com/api-reference): ``Authorization: Token <token>``, JSON bodies,
paths under ``/api/v1/``. The base URL is settings.PROLIFIC_API_URL (Prolific's own by
default; tests point it at devtools.scripted_prolific over real HTTP).

The token is never stored: a study's token is read from the environment variable
``<PROLIFIC_TOKEN_ENV_PREFIX><SLUG>`` (the slug upper-cased, dashes as underscores), else
``<PROLIFIC_TOKEN_ENV_PREFIX>DEFAULT`` — one workspace's token for every study. Like
ModelEndpoint.api_key, only variables with the prefix are ever read, so nothing a study
says can send another secret to Prolific's (or any) address.

The standard library's HTTP client is enough for a handful of calls a sync makes, and it
keeps this edge free of another dependency; every call has a timeout.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

# Prolific's categories for a rejection (the transition endpoint's `rejection_category`),
# with the words shown to investigators.
REJECTION_CATEGORIES = {
    "TOO_QUICKLY": "Completed too quickly",
    "TOO_SLOWLY": "Completed too slowly",
    "FAILED_INSTRUCTIONS": "Did not follow the instructions",
    "INCOMP_LONGITUDINAL": "Did not complete a longitudinal study",
    "FAILED_CHECK": "Failed attention checks",
    "LOW_EFFORT": "Low effort",
    "MALINGERING": "Malingering",
    "NO_CODE": "No completion code",
    "BAD_CODE": "Wrong completion code",
    "NO_DATA": "No data",
    "UNSUPP_DEVICE": "Unsupported device",
    "OTHER": "Other",
}
# Prolific refuses a rejection whose message (sent to the participant) is shorter.
MIN_REJECTION_MESSAGE = 100


class ProlificError(Exception):
    """A Prolific call failed; the message says what to do, never the token."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProlificNotConfiguredError(ProlificError):
    """No token for this study, or the study has no Prolific STUDY_ID."""


@dataclass(frozen=True)
class SubmissionInfo:
    """One Prolific submission as the list endpoint gives it."""

    id: str
    participant_id: str
    status: str
    study_code: str = ""
    bonus_payments: tuple[int, ...] = ()

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> SubmissionInfo:
        try:
            return cls(
                id=str(data["id"]),
                # The list names it participant_id, the detail participant.
                participant_id=str(data.get("participant_id") or data["participant"]),
                status=str(data["status"]),
                study_code=str(data.get("study_code") or ""),
                bonus_payments=tuple(int(x) for x in (data.get("bonus_payments") or ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProlificError(f"Prolific sent a submission without {exc}.") from exc


def token_env_names(slug: str) -> list[str]:
    """The variables a study's token is read from, in order."""
    prefix = settings.PROLIFIC_TOKEN_ENV_PREFIX
    return [prefix + slug.upper().replace("-", "_"), prefix + "DEFAULT"]


def study_token(slug: str) -> str:
    for name in token_env_names(slug):
        if value := os.environ.get(name, ""):
            return value
    names = " or ".join(token_env_names(slug))
    raise ProlificNotConfiguredError(f"No Prolific API token: set {names}.")


class ProlificClient:
    def __init__(
        self, *, token: str, base_url: str | None = None, timeout: float | None = None
    ) -> None:
        self.base_url = (base_url or settings.PROLIFIC_API_URL).rstrip("/") + "/"
        self.timeout = timeout if timeout is not None else settings.PROLIFIC_API_TIMEOUT_S
        self._token = token

    @classmethod
    def for_study(cls, slug: str) -> ProlificClient:
        return cls(token=study_token(slug))

    # --- HTTP -----------------------------------------------------------------------------

    def _request(self, method: str, path_or_url: str, body: Any = None) -> Any:
        url = urljoin(self.base_url, path_or_url)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (https or our test server)
        request.add_header("Authorization", f"Token {self._token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ProlificError(
                f"Prolific answered {exc.code} to {method} {_path(url)}: {_detail(exc)}",
                status=exc.code,
            ) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ProlificError(f"Prolific could not be reached ({_path(url)}): {exc}") from exc
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError as exc:
            raise ProlificError(
                f"Prolific sent something other than JSON ({_path(url)})."
            ) from exc

    # --- Calls ----------------------------------------------------------------------------

    def submissions(
        self, prolific_study_id: str, *, max_pages: int = 1000
    ) -> list[SubmissionInfo]:
        """Every submission of the study, following the pages' `next` links."""
        url: str | None = f"api/v1/studies/{quote(prolific_study_id)}/submissions/"
        found: list[SubmissionInfo] = []
        for _ in range(max_pages):
            if url is None:
                return found
            page = self._request("GET", url)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise ProlificError("Prolific's submission list had no results.")
            found.extend(SubmissionInfo.from_api(row) for row in page["results"])
            url = ((page.get("_links") or {}).get("next") or {}).get("href")
        raise ProlificError(f"More than {max_pages} pages of submissions.")

    def approve(self, submission_id: str) -> None:
        self._request(
            "POST", f"api/v1/submissions/{quote(submission_id)}/transition/", {"action": "APPROVE"}
        )

    def reject(self, submission_id: str, *, category: str, message: str) -> None:
        """Reject one submission: Prolific requires a category and a written reason."""
        if category not in REJECTION_CATEGORIES:
            raise ValueError(f"unknown rejection category {category!r}")
        if len(message) < MIN_REJECTION_MESSAGE:
            raise ValueError(f"a rejection needs a message of {MIN_REJECTION_MESSAGE}+ characters")
        self._request(
            "POST",
            f"api/v1/submissions/{quote(submission_id)}/transition/",
            {"action": "REJECT", "rejection_category": category, "message": message},
        )

    def bulk_approve(self, submission_ids: Sequence[str]) -> None:
        """Approve many at once (by submission ids, as Prolific recommends)."""
        if submission_ids:
            self._request(
                "POST",
                "api/v1/submissions/bulk-approve/",
                {"submission_ids": list(submission_ids)},
            )

    def set_up_bonuses(self, prolific_study_id: str, rows: Iterable[tuple[str, Decimal]]) -> str:
        """A bulk bonus (participant or submission id, amount in the study's currency),
        not paid yet; returns its id for pay_bonuses."""
        csv = "".join(f"{who},{amount:.2f}\n" for who, amount in rows)
        answer = self._request(
            "POST",
            "api/v1/submissions/bonus-payments/",
            {"study_id": prolific_study_id, "csv_bonuses": csv},
        )
        if not isinstance(answer, dict) or not answer.get("id"):
            raise ProlificError("Prolific did not return the bonus payment's id.")
        return str(answer["id"])

    def pay_bonuses(self, bulk_bonus_id: str) -> None:
        """Pay a bulk bonus. NOT idempotent at Prolific: call once per id."""
        self._request("POST", f"api/v1/bulk-bonus-payments/{quote(bulk_bonus_id)}/pay/")


def _path(url: str) -> str:
    # Errors name the path, never a query string (which could carry ids) nor the token.
    return urlsplit(url).path


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (json.JSONDecodeError, OSError):
        return exc.reason or "no detail"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        detail = error.get("detail") or error.get("title")
        if isinstance(detail, list | dict):
            detail = json.dumps(detail)[:300]
        return str(detail or exc.reason)[:300]
    return str(exc.reason)
