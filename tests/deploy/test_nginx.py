"""The nginx config: it renders, nginx accepts it, and it behaves as deploy/README.md says.

The live test runs Debian's nginx in front of two tiny echo upstreams (and one dead port) on
loopback, so failover, forwarded headers, the WebSocket headers, the body limit and the
masked access log are checked for real, not only parsed.
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deploy.nginx.render import PLACEHOLDERS, TEMPLATE, main, render, upstream_lines, with_tls
from tests.conftest import require

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
MIME_TYPES = Path("/etc/nginx/mime.types")
TOKEN = "Zm9vYmFyLXJhbmRvbS1wYXJ0LW9mLXRoZS10b2tlbi0wMTIzNDU2Nzg5.c2lnbmF0dXJlLXBhcnQ"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def full_config(tmp: Path, site: str) -> Path:
    """A minimal nginx.conf around the rendered site, everything under tmp."""
    (tmp / "site.conf").write_text(site)
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    mime = f"    include {MIME_TYPES};\n" if MIME_TYPES.exists() else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'};\n"
        f"events {{}}\nhttp {{\n{mime}{temp_paths}\n    include {tmp / 'site.conf'};\n}}\n"
    )
    return conf


def render_site(tmp: Path, listen: str, upstreams: list[str]) -> str:
    return render(
        TEMPLATE.read_text(),
        LISTEN=listen,
        UPSTREAM_SERVERS=upstream_lines(upstreams),
        ACCESS_LOG=str(tmp / "access.log"),
        SERVER_NAME="studyapp.example.org",
    )


def nginx_cmd(conf: Path, tmp: Path, *args: str) -> list[str]:
    return [NGINX, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log"), *args]


# --- render -------------------------------------------------------------------------------
def test_render_fills_every_placeholder():
    text = render(
        TEMPLATE.read_text(),
        listen="127.0.0.1:8080",
        upstream_servers="server 127.0.0.1:8101 max_fails=1 fail_timeout=2s;",
        access_log="/var/log/nginx/studyapp.access.log",
        server_name="s.example.org",
    )
    assert "@" not in text  # also: no placeholder hides in a comment
    assert "listen 127.0.0.1:8080;" in text
    assert "server 127.0.0.1:8101 max_fails=1 fail_timeout=2s;" in text


def test_render_refuses_a_missing_or_unknown_value():
    values = dict.fromkeys(PLACEHOLDERS, "x")
    with pytest.raises(ValueError, match="SERVER_NAME"):
        render(TEMPLATE.read_text(), **{k: v for k, v in values.items() if k != "SERVER_NAME"})
    with pytest.raises(ValueError, match="unknown"):
        render(TEMPLATE.read_text(), **values, PORT="1")


def test_the_cli_writes_the_config(tmp_path):
    out = tmp_path / "site.conf"
    assert (
        main(["--upstream", "10.0.0.1:8000", "--upstream", "10.0.0.2:8000", "--output", str(out)])
        == 0
    )
    text = out.read_text()
    assert "server 10.0.0.1:8000 max_fails=1 fail_timeout=2s;" in text
    assert "server 10.0.0.2:8000 max_fails=1 fail_timeout=2s;" in text


# --- nginx itself --------------------------------------------------------------------------
def test_nginx_accepts_the_rendered_config(tmp_path):
    require(NGINX is not None, "nginx is not installed (Debian: apt-get install nginx)")
    site = render_site(tmp_path, "127.0.0.1:8080", ["127.0.0.1:8101", "127.0.0.1:8102"])
    conf = full_config(tmp_path, site)
    done = subprocess.run(nginx_cmd(conf, tmp_path, "-t"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_nginx_accepts_the_config_with_tls(tmp_path):
    require(NGINX is not None, "nginx is not installed (Debian: apt-get install nginx)")
    openssl = shutil.which("openssl")
    require(openssl is not None, "openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=studyapp.example.org", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    site = render_site(tmp_path, "127.0.0.1:8080", ["127.0.0.1:8101"])
    site = with_tls(site, cert=str(cert), key=str(key))
    assert "listen 443 ssl;" in site
    conf = full_config(tmp_path, site)
    done = subprocess.run(nginx_cmd(conf, tmp_path, "-t"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON."""

    protocol_version = "HTTP/1.1"
    seen: list[str]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        body = json.dumps(
            {"path": self.path, "port": self.server.server_port, "headers": dict(self.headers)}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def proxied(tmp_path):
    """nginx on a free loopback port before a dead port and two echo upstreams."""
    require(NGINX is not None, "nginx is not installed (Debian: apt-get install nginx)")
    servers = []
    for _ in range(2):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        server.seen = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    dead = free_port()  # nothing listens: connections are refused, as to a killed worker
    port = free_port()
    upstreams = [f"127.0.0.1:{dead}"] + [f"127.0.0.1:{s.server_port}" for s in servers]
    conf = full_config(tmp_path, render_site(tmp_path, f"127.0.0.1:{port}", upstreams))
    proc = subprocess.Popen(nginx_cmd(conf, tmp_path, "-g", "daemon off;"))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield port, servers, tmp_path / "access.log"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for server in servers:
            server.shutdown()
            server.server_close()


def request(port: int, method: str, path: str, headers=None, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            method, path, body=body, headers={"Host": "studyapp.example.org", **(headers or {})}
        )
        response = conn.getresponse()
        data = response.read()
        return response.status, data
    finally:
        conn.close()


def test_nginx_proxies_fails_over_and_masks_the_log(proxied):
    port, servers, access_log = proxied

    # Every request is answered although the first upstream is dead, and both live ones serve.
    ports = set()
    for _ in range(8):
        status, body = request(port, "GET", "/healthz")
        assert status == 200
        ports.add(json.loads(body)["port"])
    assert ports == {s.server_port for s in servers}

    status, body = request(
        port, "GET", f"/p/{TOKEN}/tasks/1/answer?PROLIFIC_PID=pid-secret",
        headers={"X-Forwarded-For": "203.0.113.9"},
    )  # fmt: skip
    assert status == 200
    headers = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["host"] == "studyapp.example.org"
    assert "upgrade" not in headers  # plain requests reuse keepalive connections

    status, body = request(
        port, "GET", f"/ws/p/{TOKEN}/tasks/1/chat/",
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )  # fmt: skip
    headers = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    assert headers["upgrade"] == "websocket"
    assert headers["connection"] == "upgrade"
    assert headers["x-real-ip"] == "127.0.0.1"

    # /metrics is not reachable through the public entry point.
    assert request(port, "GET", "/metrics")[0] == 404
    assert not any(path.startswith("/metrics") for s in servers for path in s.seen)

    # Bodies over 1 MiB are refused before they reach a worker.
    two_mib = b"x" * (2 * 1024 * 1024)
    assert request(port, "POST", "/accounts/login/", body=two_mib)[0] == 413
    # ...except an MCQ file for an evaluation run.
    assert request(port, "POST", "/studies/demo/evaluations/start/", body=two_mib)[0] == 200

    request(port, "GET", "/s/demo/?PROLIFIC_PID=another-secret&STUDY_ID=s")
    time.sleep(0.2)  # the access log is written after the response
    log = access_log.read_text()
    assert TOKEN not in log
    assert TOKEN.split(".")[0] not in log
    assert "secret" not in log and "?" not in log
    assert '"GET /p/[token]/tasks/1/answer HTTP/1.1" 200' in log
    assert '"GET /ws/p/[token]/tasks/1/chat/ HTTP/1.1" 200' in log
    assert '"GET /s/demo/ HTTP/1.1" 200' in log
    assert '"GET /metrics HTTP/1.1" 404' in log
