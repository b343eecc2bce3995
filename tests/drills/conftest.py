"""One production stack for every drill of the session (starting it costs ~30 s)."""

from __future__ import annotations

import asyncio

import pytest

from studyapp.devtools.scripted_server import ScriptedConfig, ScriptedServerThread
from tests.conftest import require
from tests.drills.stack import REPORT, Stack, missing_tools, running_stack

SETUP = """
from django.utils import timezone
from studyapp.studies.models import Study
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study
import os
endpoint = make_endpoint(os.environ["SCRIPTED_MODEL_URL"], name="drill-model", timeout_s=60,
                         max_concurrent_streams=128)
chat = make_study("drill-chat", scenarios_per_participant=1)
make_scenario(chat, "drill-chat-s1")
make_llm_arm(chat, endpoint, max_turns=20, reply_timeout_s=60)
print("ok")
"""


@pytest.fixture(scope="session")
def drill_model():
    server = ScriptedServerThread(ScriptedConfig(ttft_s=0.2, token_delay_s=0.03)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, drill_model) -> Stack:
    missing = missing_tools()
    require(not missing, f"the production stack needs {', '.join(missing)}")
    tmp = tmp_path_factory.mktemp("stack")
    with running_stack(tmp, drill_model) as running:
        running.python(SETUP)
        yield running


@pytest.fixture
def healthy(stack: Stack) -> Stack:
    """The stack with every server up (a drill that failed half-way may have left one
    down)."""
    for index in range(len(stack.worker_ports)):
        if not stack.worker(index).alive():
            stack.restart_worker(index)
    if not stack.procs["redis"].alive():
        stack.restart_redis()
    if not stack.procs["postgres"].alive():
        stack.restart_postgres(crash=False)
    return stack


def run(coro):
    return asyncio.run(coro)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if REPORT:
        terminalreporter.section("fault drills: what was lost, how long recovery took")
        for line in REPORT:
            terminalreporter.write_line(line)
