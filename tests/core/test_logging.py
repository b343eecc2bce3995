"""Logs keep no participant token and no Prolific id (studyapp.core.logging)."""

from __future__ import annotations

import io
import logging
import logging.config
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory

from studyapp.core.logging import RedactingFilter, redact
from studyapp.participation.tokens import new_participant_token

ROOT = Path(__file__).resolve().parent.parent.parent
LOG_CONFIG = ROOT / "deploy" / "uvicorn-log.json"
TOKEN = new_participant_token()
PID = "5f0c3a9be1d2c4a7b8e9f012"
STUDY = "64aa11bb22cc33dd44ee55ff"
SESSION = "sess9f8e7d6c5b4a"
PROLIFIC_QUERY = f"PROLIFIC_PID={PID}&STUDY_ID={STUDY}&SESSION_ID={SESSION}"
SECRETS = (TOKEN, PID, STUDY, SESSION)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    # Neither half of a token either (a signed token is <random>.<signature>).
    for half in TOKEN.split("."):
        assert half not in text


def log_through_filter(logger_name: str, msg, *args, **kwargs) -> tuple[str, logging.LogRecord]:
    """Log one record through a handler with the filter; return what it wrote."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    records: list[logging.LogRecord] = []
    handler.emit = (lambda emit: lambda record: (records.append(record), emit(record)))(
        handler.emit
    )
    logger = logging.getLogger(logger_name)
    old = (logger.handlers[:], logger.propagate, logger.level, logger.disabled)
    logger.handlers, logger.propagate, logger.disabled = [handler], False, False
    logger.setLevel(logging.DEBUG)  # setLevel, not .level: it clears the level cache
    try:
        logger.log(kwargs.pop("level", logging.WARNING), msg, *args, **kwargs)
    finally:
        logger.handlers, logger.propagate, _level, logger.disabled = old
        logger.setLevel(_level)
    return stream.getvalue(), records[0]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (f"/p/{TOKEN}/", "/p/[token]/"),
        (f"/p/{TOKEN}/consent", "/p/[token]/consent"),
        (f"/p/{TOKEN}", "/p/[token]"),
        (f"/ws/p/{TOKEN}/tasks/1/chat/", "/ws/p/[token]/tasks/1/chat/"),
        (
            "GET /p/forged-or-not/tasks/2/answer?x=1 HTTP/1.1",
            "GET /p/[token]/tasks/2/answer?x=1 HTTP/1.1",
        ),
        (
            f"https://study.example.org:8443/p/{TOKEN}/",
            "https://study.example.org:8443/p/[token]/",
        ),
        (
            f"/s/demo/?{PROLIFIC_QUERY}&site=a",
            "/s/demo/?PROLIFIC_PID=[redacted]&STUDY_ID=[redacted]&SESSION_ID=[redacted]&site=a",
        ),
        (f"/s/demo/?prolific_pid={PID}", "/s/demo/?prolific_pid=[redacted]"),
        (f"/s/demo/?site=b&Session_Id={SESSION}", "/s/demo/?site=b&Session_Id=[redacted]"),
        (
            f"/accounts/login/?next=%2Fs%2Fd%2F%3FPROLIFIC_PID%3D{PID}%26STUDY_ID%3D{STUDY}",
            "/accounts/login/?next=%2Fs%2Fd%2F%3FPROLIFIC_PID%3D[redacted]%26STUDY_ID%3D[redacted]",
        ),
        # Investigator paths stay readable, a study slugged "p" included.
        ("/studies/p/analysis/", "/studies/p/analysis/"),
        ("/studies/demo/tasks/3/", "/studies/demo/tasks/3/"),
        ("prolific_study_id=abc", "prolific_study_id=abc"),
    ],
)
def test_it_masks_tokens_in_paths_and_prolific_ids_in_queries(raw, clean):
    assert redact(raw) == clean


def test_it_redacts_djangos_not_found_log_line():
    # django.utils.log.log_response: "Not Found: %s" with request.path, and the request.
    request = RequestFactory().get(f"/p/{TOKEN}/", {"PROLIFIC_PID": PID})
    out, record = log_through_filter(
        "django.request",
        "Not Found: %s",
        request.path,
        extra={"status_code": 404, "request": request},
    )
    assert out == "django.request Not Found: /p/[token]/\n"
    # A handler that renders the attached request (an error e-mail) gets none.
    assert record.request is None


def test_it_keeps_an_investigators_request_on_the_record():
    request = RequestFactory().get("/studies/demo/analysis/")
    _out, record = log_through_filter(
        "django.request", "Not Found: %s", request.path, extra={"request": request}
    )
    assert record.request is request


def test_it_redacts_uvicorns_access_line_and_keeps_its_arguments():
    # uvicorn.protocols.http: the path with its query string is the third argument, and
    # uvicorn's AccessFormatter unpacks all five (the status code as a number).
    out, record = log_through_filter(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        f"/p/{TOKEN}/consent?{PROLIFIC_QUERY}",
        "1.1",
        200,
        level=logging.INFO,
    )
    assert_clean(out)
    assert record.args[2] == (
        "/p/[token]/consent?PROLIFIC_PID=[redacted]&STUDY_ID=[redacted]&SESSION_ID=[redacted]"
    )
    assert record.args[4] == 200
    from uvicorn.logging import AccessFormatter

    line = AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s').format(record)
    assert "GET /p/[token]/consent?PROLIFIC_PID=[redacted]" in line


def test_it_redacts_the_request_line_of_the_development_server():
    # django.core.servers.basehttp: '"%s" %s %s' with the request line first.
    out, _record = log_through_filter(
        "django.server", '"%s" %s %s', f"GET /ws/p/{TOKEN}/tasks/1/chat/ HTTP/1.1", "404", "179"
    )
    assert out == 'django.server "GET /ws/p/[token]/tasks/1/chat/ HTTP/1.1" 404 179\n'


def test_it_redacts_a_request_object_passed_as_an_argument_and_a_traceback():
    request = RequestFactory().get(f"/p/{TOKEN}/check")
    try:
        raise ValueError(f"cannot load /p/{TOKEN}/check?PROLIFIC_PID={PID}")
    except ValueError:
        out, _record = log_through_filter("studyapp", "failed: %s (%d)", request, 3, exc_info=True)
    assert_clean(out)
    assert "failed: <WSGIRequest: GET '/p/[token]/check'> (3)" in out
    assert "ValueError: cannot load /p/[token]/check?PROLIFIC_PID=[redacted]" in out


def test_it_redacts_dict_arguments_and_messages_without_arguments():
    out, _record = log_through_filter("studyapp", "entry %(path)s", {"path": f"/p/{TOKEN}/"})
    assert out == "studyapp entry /p/[token]/\n"
    out, _record = log_through_filter("studyapp", f"STUDY_ID={STUDY} seen")
    assert out == "studyapp STUDY_ID=[redacted] seen\n"


def test_every_configured_handler_redacts():
    """settings.LOGGING leaves no handler without the filter: not Django's defaults, not
    the ones uvicorn installs before it loads the app."""
    import uvicorn.config

    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)  # as uvicorn does first
    try:
        logging.config.dictConfig(settings.LOGGING)  # then django.setup()
        loggers = [logging.getLogger()] + [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ]
        checked = 0
        for logger in loggers:
            for handler in logger.handlers:
                if isinstance(handler, logging.NullHandler):
                    continue  # writes nothing (celery's, for instance)
                if type(handler).__module__.startswith("_pytest"):
                    continue  # pytest's capture, in tests only
                assert any(isinstance(f, RedactingFilter) for f in handler.filters), (
                    logger.name,
                    handler,
                )
                checked += 1
        assert checked >= 1
        for name in ("uvicorn.access", "uvicorn.error", "django.request", "django.server"):
            logger = logging.getLogger(name)
            assert logger.handlers == [] and logger.propagate, name
    finally:
        logging.config.dictConfig(settings.LOGGING)


# --- A real uvicorn -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _websocket(url: str) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=10):
            pass
    except (InvalidStatus, OSError, TimeoutError):
        pass


@pytest.mark.parametrize("log_config", [True, False], ids=["uvicorn-log.json", "no-log-config"])
def test_a_real_uvicorn_logs_no_token_and_no_pid(tmp_path, log_config):
    """uvicorn started as deploy/README.md says, hit with participant URLs: its access log
    and Django's error log (a 404, and a 500 with its traceback: the database is empty on
    purpose) say where, never whose."""
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "LOG_LEVEL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="studyapp.settings",
        # The development settings (a production process wants collected static files);
        # the test's key, so that TOKEN is a valid signed token there.
        DJANGO_DEBUG="1",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        PYTHONUNBUFFERED="1",
    )
    command = [
        sys.executable, "-m", "uvicorn", "studyapp.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
    ]  # fmt: skip
    if log_config:
        command += ["--log-config", str(LOG_CONFIG)]
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    _get(f"{base}/healthz")
                    break
                except OSError:
                    assert server.poll() is None, err_path.read_text()
                    assert time.monotonic() < deadline, "uvicorn did not start"
                    time.sleep(0.1)
            statuses = [
                _get(f"{base}/p/{TOKEN}/?{PROLIFIC_QUERY}"),  # 500: no tables
                _get(f"{base}/p/forged.{PID}/"),  # 404: no valid signature, no query
                _get(f"{base}/ws/p/{TOKEN}/tasks/1/chat/?PROLIFIC_PID={PID}"),  # 404
                _get(f"{base}/s/demo/?{PROLIFIC_QUERY}"),  # 500: no tables
            ]
            _websocket(f"ws://127.0.0.1:{port}/ws/p/{TOKEN}/tasks/1/chat/?SESSION_ID={SESSION}")
        finally:
            server.terminate()
            server.wait(timeout=15)
    logs = out_path.read_text() + err_path.read_text()
    assert statuses == [500, 404, 404, 500]
    assert_clean(logs)
    assert "forged" not in logs
    # The lines are there, redacted: the access log, Django's 404 and 500 with traceback.
    assert '"GET /p/[token]/?PROLIFIC_PID=[redacted]&STUDY_ID=[redacted]' in logs
    assert "Not Found: /ws/p/[token]/tasks/1/chat/" in logs
    assert "Internal Server Error: /s/demo/" in logs
    assert "Traceback" in logs
    assert "/ws/p/[token]/tasks/1/chat/?SESSION_ID=[redacted]" in logs
