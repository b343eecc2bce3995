"""`make run` with a port taken says what to do, before starting anything."""

from __future__ import annotations

import socket

import pytest
from django.core.management import CommandError, call_command


@pytest.fixture
def taken_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_a_taken_web_port_is_refused_with_what_to_do(taken_port):
    with pytest.raises(CommandError) as error:
        call_command(
            "run_embedded", "--port", str(taken_port), "--model-server", "none", "--no-worker"
        )
    message = str(error.value)
    assert f"Port {taken_port}" in message and "the web server" in message
    assert f"make run PORT={taken_port + 100}" in message


def test_a_taken_model_port_is_refused_with_what_to_do(taken_port, settings):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as free:
        free.bind(("127.0.0.1", 0))
        web_port = free.getsockname()[1]
    settings.SCRIPTED_MODEL_URL = f"http://127.0.0.1:{taken_port}/v1"
    with pytest.raises(CommandError) as error:
        call_command("run_embedded", "--port", str(web_port), "--no-worker")
    message = str(error.value)
    assert "the model server" in message and "MODEL_PORT=" in message
