"""Shared fixtures: the fixed cast and the skip policy.

On a laptop without PostgreSQL, Redis, chromium or ../shared/data, tests that need them
skip and say why. With STUDYAPP_STRICT=1 (set by .ci/run) every such skip is a failure.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

from studyapp.devtools.scripted_server import ScriptedConfig, ScriptedServerThread

STRICT = os.environ.get("STUDYAPP_STRICT") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip (or, in strict mode, fail) when something the test needs is missing."""
    if condition:
        return
    if STRICT:
        pytest.fail(f"STUDYAPP_STRICT=1 and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The default hasher costs ~0.3 s a user on a small machine; no test here tests it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def private_cache_keys(settings):
    """Every test starts with an empty cache (participant rate-limit counters above all) in
    the configured backend, under a key prefix of its own: nothing is cleared, so other
    test processes sharing the file cache or Redis database keep their keys."""
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"{config.get('KEY_PREFIX', '')}:t{uuid.uuid4().hex[:12]}"}
        for name, config in settings.CACHES.items()
    }


# The scripted model server (a real HTTP server on loopback), fast for tests.
FAST = {"ttft_s": 0.02, "token_delay_s": 0.003}


@pytest.fixture(scope="session")
def scripted_server():
    server = ScriptedServerThread(ScriptedConfig(record_messages=True, **FAST)).start()
    yield server
    server.stop()


@pytest.fixture
def scripted(scripted_server):
    """The shared server, with default fast behaviour and empty stats for each test."""
    scripted_server.configure(mode="demo", fail_status=None, fail_after_tokens=None, **FAST)
    scripted_server.reset()
    return scripted_server


@dataclass(frozen=True)
class Engine:
    """A real inference engine the real-engine tests talk to."""

    base_url: str
    model: str
    # Name of the environment variable holding its API key ("" for none).
    api_key_env: str = ""

    @property
    def api_key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else "EMPTY"


@pytest.fixture(scope="session")
def engine():
    """A real inference engine: by default llama.cpp's server with SmolLM2-135M (a model
    for testing only), started once for the session, keeping the engine's default of
    interrupting a streaming request when another arrives (the harder case for the chat).
    STUDYAPP_ENGINE_URL and STUDYAPP_ENGINE_MODEL point the same tests at another server
    instead (deploy/vllm/smoke.sh: vLLM on a GPU machine), with its key in
    STUDYAPP_LLM_KEY_SMOKE if it needs one."""
    from django.conf import settings

    from studyapp.devtools.local_model import start_local_model, unavailable_reason

    external = os.environ.get("STUDYAPP_ENGINE_URL")
    if external:
        key_env = "STUDYAPP_LLM_KEY_SMOKE" if os.environ.get("STUDYAPP_LLM_KEY_SMOKE") else ""
        yield Engine(external.rstrip("/"), os.environ["STUDYAPP_ENGINE_MODEL"], key_env)
        return
    reason = unavailable_reason()
    require(reason is None, f"the real-engine tests need the local model: {reason}")
    server = start_local_model(model_alias=settings.LOCAL_MODEL_NAME, interrupt_requests=True)
    yield Engine(server.base_url, settings.LOCAL_MODEL_NAME)
    server.stop()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and before it is dropped, whatever still holds a
    session on it: the chat's async psycopg pools of event loops that have ended, and the
    ORM connections of the browser tests' server threads (daemon threads, never joined).
    Without this the drop failed ("being accessed by other users") and left the database
    behind, with a warning, at the end of a green run."""
    yield
    from django.db import connection, connections

    from studyapp.chat import pgturns

    with django_db_blocker.unblock():
        pgturns.close_dead_pools()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        connections.close_all()


def pytest_report_header(config) -> list[str]:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    return [f"studyapp: database={engine} channel_layer={layer} strict={STRICT}"]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"NOTE: {len(skipped)} test(s) skipped; see the reasons above (-ra).", yellow=True
        )


def pytest_sessionfinish(session, exitstatus) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if STRICT and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = 1
