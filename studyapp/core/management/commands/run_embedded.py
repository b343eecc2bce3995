"""Run everything the embedded default needs, in the foreground; Ctrl-C stops all of it.

Processes: the ASGI server (uvicorn), the scripted demo model server, and a Celery worker
with an embedded beat on the configured broker (a filesystem broker by default, so no
broker server is needed).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from studyapp.studies.models import Study


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM it when this supervisor dies, however it dies,
    so no server is left holding a port (elsewhere Ctrl-C still stops everything)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (bind and let go)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn does: a port in TIME_WAIT after a previous run is free to use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = "Serve the product locally: ASGI server, scripted model server, background worker."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument(
            "--model-server",
            choices=["scripted", "local", "none"],
            default="scripted",
            help=(
                "The model server to start: the scripted demo model, the local small model "
                "for testing (llama.cpp + SmolLM2-135M; make run MODEL=local), or none "
                "(e.g. when arms point at vLLM)."
            ),
        )
        parser.add_argument(
            "--no-model-server",
            action="store_const",
            const="none",
            dest="model_server",
            help="Same as --model-server none.",
        )
        parser.add_argument("--no-worker", action="store_true", help="Do not start Celery.")

    def handle(
        self, *args, host: str, port: int, model_server: str, no_worker: bool, **options
    ) -> None:
        run_dir = settings.RUN_DIR
        for sub in ("celery-broker", "celery-processed", "celery-control"):
            (run_dir / sub).mkdir(parents=True, exist_ok=True)

        self._check_ports_free(host, port, model_server)
        # The production 404 and 500 pages in the browser (core.errors); tracebacks still
        # print here.
        os.environ.setdefault("STUDYAPP_FRIENDLY_ERRORS", "1")
        commands: dict[str, list[str]] = {}
        if model_server == "scripted":
            model_url = urlsplit(settings.SCRIPTED_MODEL_URL)
            commands["model"] = [
                sys.executable, "manage.py", "scripted_model_server",
                "--host", model_url.hostname or "127.0.0.1",
                "--port", str(model_url.port or 8011),
            ]  # fmt: skip
        elif model_server == "local":
            # Host and port from LOCAL_MODEL_URL; it loads in a second or two.
            commands["model"] = [sys.executable, "manage.py", "local_model_server"]
        if not no_worker:
            commands["worker"] = [
                sys.executable, "-m", "celery", "-A", "studyapp", "worker", "--beat",
                "--pool", "solo", "--loglevel", "WARNING",
                "--schedule", str(run_dir / "celerybeat-schedule"),
            ]  # fmt: skip
        commands["web"] = [
            sys.executable, "-m", "uvicorn", "studyapp.asgi:application",
            "--host", host, "--port", str(port), "--log-level", "warning", "--no-access-log",
            # The largest chat frame is ~13 KB; uvicorn's default (16 MiB) would buffer
            # whatever a client sends before the app could refuse it.
            "--ws-max-size", "65536",
            # No permessage-deflate: a zlib compressor and decompressor per socket for its
            # whole life, twice the memory of an idle chat socket (deploy/README.md).
            "--ws-per-message-deflate", "false",
        ]  # fmt: skip

        procs: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_args) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, cmd in commands.items():
                procs[name] = subprocess.Popen(  # noqa: S603
                    cmd,
                    cwd=settings.BASE_DIR,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            base = f"http://{host}:{port}"
            self._wait_healthy(f"{base}/healthz", procs, lambda: stopping)
            if not stopping:
                self._print_banner(base, model_server=model_server)
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        raise CommandError(f"{name} exited with status {proc.returncode}")
                time.sleep(0.5)
        finally:
            self._terminate(procs)
        self.stdout.write("Stopped.")

    def _check_ports_free(self, host: str, port: int, model_server: str) -> None:
        """Refuse plainly, before starting anything, when a port is taken: otherwise a
        server dies with a traceback, or (worse) another program's /healthz answers."""
        wanted = [("the web server", host, port, "PORT")]
        if model_server != "none":
            url = urlsplit(
                settings.SCRIPTED_MODEL_URL
                if model_server == "scripted"
                else settings.LOCAL_MODEL_URL
            )
            default = 8011 if model_server == "scripted" else 8012
            wanted.append(
                (
                    "the model server",
                    url.hostname or "127.0.0.1",
                    url.port or default,
                    "MODEL_PORT",
                )
            )
        for what, bind_host, bind_port, variable in wanted:
            if not _port_free(bind_host, bind_port):
                raise CommandError(
                    f"Port {bind_port} on {bind_host}, for {what}, is taken by another "
                    f"program (an earlier `make run` still running?). Stop it, or choose "
                    f"another port: make run {variable}={bind_port + 100}"
                )

    def _wait_healthy(self, url: str, procs: dict, is_stopping) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not is_stopping():
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise CommandError(f"{name} exited with status {proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (local URL)
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        if not is_stopping():
            raise CommandError(f"the server did not become healthy at {url}")

    def _print_banner(self, base: str, *, model_server: str) -> None:
        line = "=" * 72
        self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"studyapp is running at {base}/"))
        for study in Study.objects.open().order_by("slug"):
            self.stdout.write(f"  Participant link ({study.slug}): {base}/s/{study.slug}/")
        self.stdout.write(f"  Investigator login:  {base}/accounts/login/")
        if os.environ.get("DEMO_INVESTIGATOR_PASSWORD"):
            self.stdout.write("    user: investigator   password: $DEMO_INVESTIGATOR_PASSWORD")
        else:
            self.stdout.write("    user: investigator   password: investigator-demo")
        self.stdout.write(f"  Admin:               {base}/admin/")
        if model_server == "scripted":
            self.stdout.write(f"  Scripted demo model (not an LLM): {settings.SCRIPTED_MODEL_URL}")
        elif model_server == "local":
            self.stdout.write(
                f"  Small local model, for testing only (SmolLM2-135M on llama.cpp): "
                f"{settings.LOCAL_MODEL_URL}"
            )
        self.stdout.write("Press Ctrl-C to stop everything.")
        self.stdout.write(line)

    def _terminate(self, procs: dict[str, subprocess.Popen]) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
