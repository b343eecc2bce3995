"""The scripted Prolific API (devtools.scripted_prolific) for tests, and ids like Prolific's.

One server for the whole test run (started on first use, a daemon thread); each test
module's `prolific` fixture calls `prolific_in_use`, which empties it and points the
product's client at it.
"""

from __future__ import annotations

import functools

from studyapp.devtools.scripted_prolific import ScriptedProlificThread

PROLIFIC_STUDY = "64f0aa11bb22cc33dd44ee55"


def pid(n: int) -> str:
    """A Prolific-like participant id (24 hex characters)."""
    return f"{n:024x}"


@functools.cache
def _server() -> ScriptedProlificThread:
    return ScriptedProlificThread(page_size=2).start()


def prolific_in_use(settings, monkeypatch) -> ScriptedProlificThread:
    """The shared server, empty, the client pointed at it, its token in the default
    variable."""
    server = _server()
    server.reset()
    settings.PROLIFIC_API_URL = server.base_url
    settings.PROLIFIC_TOKEN_ENV_PREFIX = "STUDYAPP_PROLIFIC_TOKEN_"
    monkeypatch.setenv("STUDYAPP_PROLIFIC_TOKEN_DEFAULT", server.token)
    return server
