"""Scripted Prolific API — a stand-in for tests and demos, NOT Prolific.

A small real HTTP server (aiohttp) that answers the calls studyapp makes to Prolific's
published API (https://docs.prolific.com/api-reference), with submissions kept in memory
and set up by the test. Nobody is paid and no participant is told anything: every
response carries ``X-Scripted-Prolific: scripted stand-in, not Prolific``. The product's
real client (participation.prolific_api) talks to it over HTTP unchanged, the way the
scripted model server stands in for an OpenAI-compatible engine.

Routes (paths and bodies as Prolific documents them; ``Authorization: Token <token>``)
- ``GET /api/v1/studies/{id}/submissions/`` — ``{"results": [...], "_links": {"next":
  {"href": url|null}}, "meta": {"count": n}}``, ``page_size`` per page (``page``
  numbered from 1), so the client has to follow ``next``.
- ``GET /api/v1/submissions/{id}/`` — one submission.
- ``POST /api/v1/submissions/{id}/transition/`` — ``{"action": "APPROVE"|"REJECT",
  "message", "rejection_category"}``: only a submission AWAITING REVIEW moves; a
  rejection needs a category and a message of at least 100 characters; repeating the
  transition that already happened is ignored (Prolific: the endpoint is idempotent).
- ``POST /api/v1/submissions/bulk-approve/`` — ``{"submission_ids": [...]}`` or
  ``{"study_id", "participant_ids": [...]}``; answers with a sentence, as Prolific does.
- ``POST /api/v1/submissions/bonus-payments/`` — ``{"study_id", "csv_bonuses":
  "<participant or submission id>,<amount>\\n..."}``: sets a bulk bonus up (unpaid);
  ``POST /api/v1/bulk-bonus-payments/{id}/pay/`` pays it (NOT idempotent at Prolific:
  here a second pay is a 400 so a test catches a client that pays twice).
Errors are ``{"error": {"title", "detail"}}`` with the HTTP status.

Webhooks: ``hook_request(secret, event_type, submission_id)`` builds the request Prolific
would send for a submission's status change — the JSON body and the
``X-Prolific-Request-Timestamp`` / ``X-Prolific-Request-Signature`` headers (base64 of
HMAC-SHA256 over timestamp + body, as Prolific documents it) — for a test to post.

Control (for tests): ``ScriptedProlificThread.add_submission``, ``set_status``,
``submissions``, ``bonuses``, ``requests`` (method, path, body of every call) and
``reset``; ``fail_next(status)`` answers the next API call with that status.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

LABEL_HEADER = "X-Scripted-Prolific"
LABEL = "scripted stand-in, not Prolific"

STATUSES = (
    "RESERVED",
    "ACTIVE",
    "AWAITING REVIEW",
    "RETURNED",
    "TIMED-OUT",
    "SCREENED OUT",
    "APPROVED",
    "REJECTED",
    "PARTIALLY APPROVED",
)
# Prolific's rejection categories (the transition endpoint's `rejection_category`).
REJECTION_CATEGORIES = (
    "TOO_QUICKLY",
    "TOO_SLOWLY",
    "FAILED_INSTRUCTIONS",
    "INCOMP_LONGITUDINAL",
    "FAILED_CHECK",
    "LOW_EFFORT",
    "MALINGERING",
    "NO_CODE",
    "BAD_CODE",
    "NO_DATA",
    "UNSUPP_DEVICE",
    "OTHER",
)
MIN_REJECTION_MESSAGE = 100
_TRANSITIONS = {"APPROVE": "APPROVED", "REJECT": "REJECTED"}


def new_id() -> str:
    """A 24-hex-character id like Prolific's."""
    return secrets.token_hex(12)


@dataclass
class Submission:
    id: str
    study_id: str
    participant_id: str
    status: str = "ACTIVE"
    started_at: str = "2026-01-01T10:00:00Z"
    completed_at: str | None = None
    study_code: str | None = None
    rejection_category: str | None = None
    bonus_payments: list[int] = field(default_factory=list)

    def as_api(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rejection_category")
        # The list names the participant `participant_id`, the detail `participant`.
        data["participant"] = self.participant_id
        return data


@dataclass
class BulkBonus:
    id: str
    study_id: str
    rows: list[tuple[str, Decimal]]
    paid: bool = False


@dataclass
class ProlificState:
    token: str
    page_size: int = 2
    submissions: dict[str, Submission] = field(default_factory=dict)
    bonuses: dict[str, BulkBonus] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_status: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


STATE = web.AppKey("state", ProlificState)


@web.middleware
async def _api(request: web.Request, handler):
    state = request.app[STATE]
    raw = await request.read()
    with state.lock:
        state.requests.append(
            {"method": request.method, "path": request.path_qs, "body": raw.decode() or None}
        )
        fail, state.fail_status = state.fail_status, None
    try:
        if request.headers.get("Authorization") != f"Token {state.token}":
            raise ApiError(401, "Authentication credentials were not provided or are wrong.")
        if fail is not None:
            raise ApiError(fail, "Scripted failure.")
        response = await handler(request)
    except ApiError as exc:
        response = web.json_response(
            {"error": {"title": "Error", "detail": exc.detail}}, status=exc.status
        )
    except web.HTTPException as exc:
        response = web.json_response(
            {"error": {"title": "Error", "detail": exc.reason}}, status=exc.status
        )
    response.headers[LABEL_HEADER] = LABEL
    return response


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "The body must be JSON.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return body


def _submission(state: ProlificState, submission_id: str) -> Submission:
    submission = state.submissions.get(submission_id)
    if submission is None:
        raise ApiError(404, "Not found.")
    return submission


async def _list_submissions(request: web.Request) -> web.Response:
    state = request.app[STATE]
    study_id = request.match_info["study_id"]
    try:
        page = max(1, int(request.query.get("page", "1")))
        size = max(1, int(request.query.get("page_size", str(state.page_size))))
    except ValueError as exc:
        raise ApiError(400, "page and page_size are integers.") from exc
    with state.lock:
        rows = [s.as_api() for s in state.submissions.values() if s.study_id == study_id]
    chunk = rows[(page - 1) * size : page * size]
    next_href = None
    if page * size < len(rows):
        next_href = str(request.url.update_query({"page": str(page + 1), "page_size": str(size)}))
    return web.json_response(
        {
            "results": chunk,
            "_links": {"self": {"href": str(request.url)}, "next": {"href": next_href}},
            "meta": {"count": len(rows)},
        }
    )


async def _get_submission(request: web.Request) -> web.Response:
    state = request.app[STATE]
    with state.lock:
        return web.json_response(_submission(state, request.match_info["id"]).as_api())


def _transition(submission: Submission, action: str, body: dict[str, Any]) -> None:
    target = _TRANSITIONS.get(action)
    if target is None:
        raise ApiError(400, f"Unknown action {action!r}.")
    if submission.status == target:
        return  # idempotent, as documented
    if submission.status != "AWAITING REVIEW":
        raise ApiError(400, f"A submission {submission.status} cannot be {target.lower()}.")
    if action == "REJECT":
        category = body.get("rejection_category")
        message = body.get("message") or ""
        if category not in REJECTION_CATEGORIES:
            raise ApiError(400, "rejection_category is required to reject.")
        if len(message) < MIN_REJECTION_MESSAGE:
            raise ApiError(400, "The message must be at least 100 characters long.")
        submission.rejection_category = category
    submission.status = target


async def _transition_submission(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json_body(request)
    with state.lock:
        submission = _submission(state, request.match_info["id"])
        _transition(submission, str(body.get("action", "")), body)
        return web.json_response(submission.as_api())


async def _bulk_approve(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json_body(request)
    with state.lock:
        if "submission_ids" in body:
            ids = body["submission_ids"]
            if not isinstance(ids, list) or not ids:
                raise ApiError(400, "submission_ids must be a non-empty list.")
            targets = [_submission(state, str(i)) for i in ids]
        elif "study_id" in body and isinstance(body.get("participant_ids"), list):
            wanted = set(body["participant_ids"])
            targets = [
                s
                for s in state.submissions.values()
                if s.study_id == body["study_id"] and s.participant_id in wanted
            ]
            if len(targets) != len(wanted):
                raise ApiError(400, "Some participant ids have no submission in the study.")
        else:
            raise ApiError(400, "Give submission_ids, or study_id and participant_ids.")
        # Prolific approves asynchronously and skips what cannot be approved; here it is
        # immediate so a test can read the result straight after.
        for submission in targets:
            if submission.status == "AWAITING REVIEW":
                submission.status = "APPROVED"
    return web.json_response("The request to bulk approve has been made successfully.")


def _parse_bonus_csv(text: str) -> list[tuple[str, Decimal]]:
    rows = []
    for line in text.strip().splitlines():
        who, _, amount = line.partition(",")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation as exc:
            raise ApiError(400, f"Bad amount in {line!r}.") from exc
        if not who.strip() or value <= 0:
            raise ApiError(400, f"Bad bonus line {line!r}.")
        rows.append((who.strip(), value))
    if not rows:
        raise ApiError(400, "csv_bonuses is empty.")
    return rows


async def _set_up_bonuses(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json_body(request)
    study_id = str(body.get("study_id", ""))
    rows = _parse_bonus_csv(str(body.get("csv_bonuses", "")))
    with state.lock:
        known = {
            key
            for s in state.submissions.values()
            if s.study_id == study_id
            for key in (s.id, s.participant_id)
        }
        unknown = [who for who, _ in rows if who not in known]
        if unknown:
            raise ApiError(400, f"Not in the study: {', '.join(unknown)}.")
        bonus = BulkBonus(id=new_id(), study_id=study_id, rows=rows)
        state.bonuses[bonus.id] = bonus
    cents = int(sum(amount for _, amount in rows) * 100)
    return web.json_response(
        {"id": bonus.id, "study": study_id, "amount": cents, "fees": 0, "total_amount": cents}
    )


async def _pay_bonuses(request: web.Request) -> web.Response:
    state = request.app[STATE]
    with state.lock:
        bonus = state.bonuses.get(request.match_info["id"])
        if bonus is None:
            raise ApiError(404, "Not found.")
        if bonus.paid:
            raise ApiError(400, "This bulk bonus payment was already paid.")
        bonus.paid = True
        for who, amount in bonus.rows:
            for s in state.submissions.values():
                if s.study_id == bonus.study_id and who in (s.id, s.participant_id):
                    s.bonus_payments.append(int(amount * 100))
    return web.json_response("The request to pay the bonuses has been made successfully.")


def make_app(state: ProlificState) -> web.Application:
    app = web.Application(middlewares=[_api])
    app[STATE] = state
    app.router.add_get("/api/v1/studies/{study_id}/submissions/", _list_submissions)
    app.router.add_post("/api/v1/submissions/bulk-approve/", _bulk_approve)
    app.router.add_post("/api/v1/submissions/bonus-payments/", _set_up_bonuses)
    app.router.add_get("/api/v1/submissions/{id}/", _get_submission)
    app.router.add_post("/api/v1/submissions/{id}/transition/", _transition_submission)
    app.router.add_post("/api/v1/bulk-bonus-payments/{id}/pay/", _pay_bonuses)
    return app


class ScriptedProlificThread:
    """The scripted Prolific API on 127.0.0.1 (a free port) in a thread of its own."""

    def __init__(self, token: str | None = None, page_size: int = 2) -> None:
        # A fresh token each run, so a client that sends none (or another) is refused.
        self.state = ProlificState(token=token or secrets.token_urlsafe(16), page_size=page_size)
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        """What settings.PROLIFIC_API_URL is set to (the client adds /api/v1/...)."""
        if self.port is None:
            raise RuntimeError("the scripted Prolific server is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return self.state.token

    def start(self) -> ScriptedProlificThread:
        self._thread = threading.Thread(target=self._run, name="scripted-prolific", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10) or self.port is None:
            raise RuntimeError("the scripted Prolific server did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        runner = web.AppRunner(make_app(self.state), access_log=None)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        finally:
            self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self.port = None

    # --- Control ------------------------------------------------------------------------

    def reset(self) -> None:
        with self.state.lock:
            self.state.submissions.clear()
            self.state.bonuses.clear()
            self.state.requests.clear()
            self.state.fail_status = None

    def add_submission(
        self, *, study_id: str, participant_id: str, status: str = "ACTIVE", **fields: Any
    ) -> Submission:
        if status not in STATUSES:
            raise ValueError(f"unknown Prolific status {status!r}")
        submission = Submission(
            id=fields.pop("id", None) or new_id(),
            study_id=study_id,
            participant_id=participant_id,
            status=status,
            **fields,
        )
        with self.state.lock:
            self.state.submissions[submission.id] = submission
        return submission

    def set_status(self, submission_id: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown Prolific status {status!r}")
        with self.state.lock:
            self.state.submissions[submission_id].status = status

    def submission(self, submission_id: str) -> Submission:
        with self.state.lock:
            return self.state.submissions[submission_id]

    def bonuses(self) -> list[BulkBonus]:
        with self.state.lock:
            return list(self.state.bonuses.values())

    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.requests)

    def fail_next(self, status: int) -> None:
        with self.state.lock:
            self.state.fail_status = status

    def hook_request(
        self,
        secret: str,
        submission_id: str,
        *,
        event_type: str = "submission.status.change",
        timestamp: float | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of Prolific's hook request for this submission's status."""
        with self.state.lock:
            s = self.state.submissions[submission_id]
            event = {
                "event_type": event_type,
                "resource_id": s.id,
                "status": s.status,
                "participant_id": s.participant_id,
                "study_id": s.study_id,
            }
        body = json.dumps(event).encode()
        stamp = str(int(timestamp if timestamp is not None else time.time()))
        mac = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
        headers = {
            "X-Prolific-Request-Timestamp": stamp,
            "X-Prolific-Request-Signature": base64.b64encode(mac).decode(),
        }
        return body, headers

    def __enter__(self) -> ScriptedProlificThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
