"""The production topology on one machine, started and stopped by the drills themselves.

    nginx (TLS, deploy/nginx/studyapp.conf.template)  ->  two uvicorn workers (DEBUG off)
    PostgreSQL (a private cluster)   Redis (private: channel layer, cache, Celery broker)
    Celery worker + a single beat    the scripted model (an OpenAI-compatible HTTP server)

Every server is a child process of the test on a free port, with its own data directory
under a temporary folder, so a drill may kill -9 or restart any of them without touching
the machine's own PostgreSQL and Redis (which the rest of the suite uses). Nothing here is
mocked: the workers run the product's settings for production (DEBUG off, secure cookies,
SSL redirect behind the proxy's X-Forwarded-Proto, whitenoise with a static manifest).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "drill-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-not-for-production"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], bool], *, timeout: float, what: str, step: float = 0.1) -> float:
    """Poll until check() is true; returns the seconds it took."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not ready after {timeout} s")
        time.sleep(step)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return found[-1].parent if found else None


def missing_tools() -> list[str]:
    """What this machine lacks to run the stack (the drills skip, or fail in CI)."""
    missing = []
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        missing.append("nginx")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if postgres_bin() is None:
        missing.append("PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    if shutil.which("openssl") is None:
        missing.append("openssl")
    return missing


@dataclass
class Proc:
    """One server process, restartable, its output in a log file."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    user: str | None = None
    cwd: Path = ROOT
    popen: subprocess.Popen | None = None

    def start(self) -> Proc:
        handle = self.log.open("ab")
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user, "group": pwd.getpwnam(self.user).pw_gid}
        self.popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kwargs,
        )
        handle.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (uvicorn, celery and nginx have children)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        self.kill(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.popen.wait(5)

    def wait_dead(self, timeout: float = 10) -> None:
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
            # Children in the group (uvicorn's server process under its supervisor).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _render_nginx(tmp: Path, *, listen: int, tls_port: int, upstreams: list[int]) -> Path:
    spec = importlib.util.spec_from_file_location(
        "studyapp_nginx_render", ROOT / "deploy" / "nginx" / "render.py"
    )
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    cert, key = tmp / "tls.crt", tmp / "tls.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = render.render(
        render.TEMPLATE.read_text(),
        listen=f"127.0.0.1:{listen}",
        upstream_servers=render.upstream_lines([f"127.0.0.1:{p}" for p in upstreams]),
        access_log=str(tmp / "nginx-access.log"),
        server_name="127.0.0.1",
    )
    server = render.with_tls(server, cert=str(cert), key=str(key), port=tls_port)
    server = server.replace(f"listen {tls_port} ssl;", f"listen 127.0.0.1:{tls_port} ssl;")
    (tmp / "nginx-temp").mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log crit;  # lower levels print request lines (tokens)
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {tmp}/nginx-temp/body;
    proxy_temp_path {tmp}/nginx-temp/proxy;
    fastcgi_temp_path {tmp}/nginx-temp/fastcgi;
    uwsgi_temp_path {tmp}/nginx-temp/uwsgi;
    scgi_temp_path {tmp}/nginx-temp/scgi;
{server}
}}
"""
    )
    return conf


@dataclass
class Stack:
    tmp: Path
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    https_port: int = field(default_factory=free_port)
    worker_ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    model: object = None  # a ScriptedServerThread, started by the caller
    procs: dict[str, Proc] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    pg_dir: Path | None = None

    # --- addresses ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.pg_port}/studyapp"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self, **more: str) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "PYTEST", "CELERY"))
        }
        return base | {
            "DJANGO_SETTINGS_MODULE": "studyapp.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_CSRF_TRUSTED_ORIGINS": self.url,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "STATIC_ROOT": str(self.tmp / "static"),
            "STUDYAPP_RUN_DIR": str(self.tmp / "run"),
            "SCRIPTED_MODEL_URL": getattr(self.model, "base_url", "http://127.0.0.1:9/v1"),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
            **more,
        }

    def _django(self, argv: list[str], what: str, timeout: float) -> str:
        """A fresh Django process on the stack's database; its stdout."""
        done = subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{what}: {done.stderr[-3000:]}")
        return done.stdout

    def manage(self, *args: str, timeout: float = 120) -> str:
        return self._django(["manage.py", *args], f"manage.py {' '.join(args)}", timeout)

    def python(self, code: str, timeout: float = 120) -> str:
        """Run Python with Django set up on the stack's database."""
        return self._django(["-c", "import django; django.setup()\n" + code], "python", timeout)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://")) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    # --- PostgreSQL --------------------------------------------------------------------

    def _pg_user(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def start_postgres(self) -> None:
        bin_dir = postgres_bin()
        user = self._pg_user()
        if self.pg_dir is None:
            # Outside pytest's private (0700) temporary folder: the server runs as
            # "postgres" when the tests run as root, and must reach its data directory.
            self.pg_dir = Path(tempfile.mkdtemp(prefix="studyapp-drill-pg-"))
            self.pg_dir.chmod(0o755)
        data, sock = self.pg_dir / "data", self.pg_dir / "sock"
        if not data.exists():
            data.mkdir()
            sock.mkdir()
            if user:
                shutil.chown(data, user)
                shutil.chown(sock, user)
            subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                 "--no-sync", "-E", "UTF8"],
                check=True,
                capture_output=True,
                user=user,
                cwd="/",
            )  # fmt: skip
        self.procs["postgres"] = Proc(
            "postgres",
            [
                str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.pg_port),
                "-k", str(sock), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "max_connections=200",
                # As deploy/README.md advises: no statements or DETAIL lines (they quote
                # values, e.g. a PID in a unique-constraint error) in the server's log.
                "-c", "log_min_error_statement=panic", "-c", "log_error_verbosity=terse",
            ],
            self.tmp / "postgres.log",
            user=user,
            cwd=Path("/"),
        ).start()  # fmt: skip
        wait_for(lambda: self._pg_ready(), timeout=30, what="PostgreSQL")

    def _pg_ready(self) -> bool:
        url = f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"
        with psycopg.connect(url, connect_timeout=1) as conn:
            conn.execute("SELECT 1")
        return True

    def restart_postgres(self, *, crash: bool, down_s: float = 0.0) -> None:
        """kill -9 of every PostgreSQL process (crash recovery at start), or a fast
        shutdown; `down_s` keeps it down a while."""
        proc = self.procs["postgres"]
        if crash:
            proc.kill(signal.SIGKILL)
        else:
            proc.kill(signal.SIGINT)  # fast shutdown
        proc.wait_dead(30)
        time.sleep(down_s)
        proc.start()
        wait_for(lambda: self._pg_ready(), timeout=60, what="PostgreSQL after restart")

    # --- Redis -------------------------------------------------------------------------

    def start_redis(self) -> None:
        (self.tmp / "redis").mkdir(exist_ok=True)
        self.procs["redis"] = Proc(
            "redis",
            [
                "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.tmp / "redis"),
            ],
            self.tmp / "redis.log",
        ).start()  # fmt: skip
        wait_for(lambda: port_open(self.redis_port), timeout=15, what="Redis")

    def restart_redis(self, *, down_s: float = 2.0) -> None:
        """kill -9 and start again, empty: this Redis keeps nothing on disk, as CI's."""
        proc = self.procs["redis"]
        proc.kill(signal.SIGKILL)
        proc.wait_dead()
        time.sleep(down_s)
        proc.start()
        wait_for(lambda: port_open(self.redis_port), timeout=15, what="Redis after restart")

    # --- the app -----------------------------------------------------------------------

    def worker(self, index: int) -> Proc:
        return self.procs[f"web{index}"]

    def start_worker(self, index: int) -> None:
        port = self.worker_ports[index]
        log_config = ROOT / "deploy" / "uvicorn-log.json"
        argv = [
            sys.executable, "-m", "uvicorn", "studyapp.asgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
            "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
            "--ws-max-size", "65536", "--timeout-keep-alive", "75",
        ]  # fmt: skip
        if log_config.exists():
            argv += ["--log-config", str(log_config)]
        self.procs[f"web{index}"] = Proc(
            f"web{index}", argv, self.tmp / f"web{index}.log", env=self.env()
        ).start()
        wait_for(lambda: port_open(port), timeout=60, what=f"uvicorn worker {index}")

    def restart_worker(self, index: int) -> None:
        self.worker(index).wait_dead(0)
        self.start_worker(index)

    def start_celery(self) -> None:
        run = self.tmp / "run"
        run.mkdir(exist_ok=True)
        self.procs["celery"] = Proc(
            "celery",
            [
                sys.executable, "-m", "celery", "-A", "studyapp", "worker",
                "--concurrency", "2", "--loglevel", "INFO", "--without-gossip",
                "--without-mingle", "-n", "drill@%h",
            ],
            self.tmp / "celery.log",
            env=self.env(),
        ).start()  # fmt: skip
        self.procs["beat"] = Proc(
            "beat",
            [
                sys.executable, "-m", "celery", "-A", "studyapp", "beat", "--loglevel", "INFO",
                "--schedule", str(run / "celerybeat-schedule"),
            ],
            self.tmp / "beat.log",
            env=self.env(),
        ).start()  # fmt: skip

    def start_nginx(self) -> None:
        conf = _render_nginx(
            self.tmp, listen=self.http_port, tls_port=self.https_port, upstreams=self.worker_ports
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        check = subprocess.run(
            [nginx, "-t", "-c", str(conf), "-p", str(self.tmp)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t: {check.stderr}")
        self.procs["nginx"] = Proc(
            "nginx", [nginx, "-c", str(conf), "-p", str(self.tmp)], self.tmp / "nginx.log"
        ).start()
        wait_for(lambda: port_open(self.https_port), timeout=15, what="nginx")

    def start(self) -> Stack:
        self.start_postgres()
        subprocess.run(
            [str(postgres_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port),
             "-U", "postgres", "studyapp"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        self.start_redis()
        self.manage("migrate", "--noinput", timeout=300)
        self.manage("collectstatic", "--noinput", timeout=300)
        for index in range(len(self.worker_ports)):
            self.start_worker(index)
        self.start_celery()
        self.start_nginx()
        return self

    def stop(self) -> None:
        for name in ("nginx", "beat", "celery", "web0", "web1", "redis", "postgres"):
            proc = self.procs.get(name)
            if proc is not None:
                proc.stop()
        if self.pg_dir is not None:
            shutil.rmtree(self.pg_dir, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{proc.tail()}" for name, proc in self.procs.items())

    def log_text(self) -> str:
        """Everything every server logged (for the no-credentials-in-logs check)."""
        parts = []
        for path in sorted(self.tmp.glob("*.log")):
            parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


@contextlib.contextmanager
def running_stack(tmp: Path, model, **extra_env: str) -> Iterator[Stack]:
    stack = Stack(tmp=tmp, model=model, extra_env=extra_env)
    try:
        yield stack.start()
    except BaseException:
        print(stack.logs(), file=sys.stderr)  # noqa: T201 (the drill's own diagnostics)
        raise
    finally:
        stack.stop()


# Every drill's line, repeated in pytest's terminal summary (tests/drills/conftest.py), so the
# CI log shows the figures although pytest captures the output of passing tests.
REPORT: list[str] = []


def print_drill(name: str, **figures: object) -> None:
    """Each drill says what it lost and how long recovery took (in the CI log)."""
    line = f"DRILL {name}: " + json.dumps(figures, sort_keys=True)
    REPORT.append(line)
    print("\n" + line)  # noqa: T201
