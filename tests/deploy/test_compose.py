"""deploy/compose.yaml, Dockerfile and env file, checked offline.

No Docker engine or Compose v2 here, so the file is parsed with PyYAML (merge keys
resolved) and held to the rules the topology depends on. Variables are interpolated as
Compose would with deploy/env.example as the .env file.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from deploy import healthcheck

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONTAINER_TMP = "/tmp"  # noqa: S108 (the containers' tmpfs)
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(node, env: dict[str, str]):
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def one(m: re.Match) -> str:
        name, op, arg = m["name"], m["op"], m["arg"]
        value = env.get(name, "")
        if op in (":-", "-"):
            return value or arg
        if op in (":?", "?"):
            assert value, f"${{{name}}} is required: {arg}"
            return value
        return value

    # "$$" is a literal "$" for the container's shell.
    parts = node.split("$$")
    return "$".join(VARIABLE.sub(one, part) for part in parts)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    return interpolate(raw, env_example())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def command_of(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_every_service_has_an_image_or_a_build(services):
    for name, service in services.items():
        assert service.get("image") or service.get("build"), name


def test_depends_on_names_services_with_what_the_condition_needs(services):
    for name, service in services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in (
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            )
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not one-shot"


def test_there_is_exactly_one_beat(services):
    beats = [n for n, s in services.items() if re.search(r"\bcelery\b.*\bbeat\b", command_of(s))]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) in (1, "1")
    assert "--beat" not in command_of(services["worker"])  # no embedded second beat


def test_web_waits_for_migrations_and_is_checked_on_healthz(services):
    web = services["web"]
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "manage.py migrate" in command_of(services["migrate"])
    assert "/healthz" in web["healthcheck"]["test"]
    assert int(web["deploy"]["replicas"]) >= 2


def test_web_runs_uvicorn_with_the_production_flags(compose, services):
    command = command_of(services["web"])
    assert command.startswith("uvicorn studyapp.asgi:application")
    assert "--ws-max-size 65536" in command
    assert "--proxy-headers" in command
    # The proxies uvicorn believes: the compose network, never "*" (uvicorn would then take
    # the left-most X-Forwarded-For entry, which the client writes).
    allowed = services["web"]["environment"]["FORWARDED_ALLOW_IPS"]
    assert allowed == compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert "*" not in allowed and "--forwarded-allow-ips" not in command
    assert "--log-config deploy/uvicorn-log.json" in command
    assert (DEPLOY / "uvicorn-log.json").exists()
    # Longer than nginx's 60 s idle upstream keepalive, so nginx closes first.
    assert int(re.search(r"--timeout-keep-alive (\d+)", command)[1]) > 60
    assert services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"].startswith(CONTAINER_TMP)
    assert CONTAINER_TMP in services["web"]["tmpfs"]


def test_redis_persists_with_an_append_only_file(compose, services):
    redis = services["redis"]
    command = command_of(redis)
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_postgres_keeps_its_data_in_a_volume(services):
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_each_vllm_server_gets_a_gpu(services):
    vllms = {
        n: s for n, s in services.items() if s.get("image", "").startswith("vllm/vllm-openai")
    }
    assert len(vllms) >= 1
    gpus = set()
    for name, service in vllms.items():
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"], name
        gpus.update(device["device_ids"])
        assert "/health" in " ".join(service["healthcheck"]["test"])
        assert "gpu" in service["profiles"]  # a host without GPUs runs the rest
        assert "--api-key" not in command_of(service)  # from VLLM_API_KEY, not argv
    assert len(gpus) == len(vllms), "two model servers share a GPU"


def test_only_nginx_publishes_ports(services):
    assert [n for n, s in services.items() if s.get("ports")] == ["nginx"]


def test_app_containers_run_read_only_with_a_tmpfs(services):
    for name in ("web", "worker", "beat", "migrate", "nginx-config"):
        assert services[name]["read_only"] is True, name
        assert services[name]["tmpfs"] == [CONTAINER_TMP], name


def test_nginx_config_renders_the_template(services):
    assert "deploy/nginx/render.py" in command_of(services["nginx-config"])
    assert "--upstream web:8000" in command_of(services["nginx-config"])
    assert services["nginx"]["depends_on"]["nginx-config"]["condition"] == (
        "service_completed_successfully"
    )


def test_every_required_variable_is_in_the_env_example_and_the_readme(raw):
    text = (DEPLOY / "compose.yaml").read_text()
    example = env_example()
    readme = (DEPLOY / "README.md").read_text()
    required = {m["name"] for m in VARIABLE.finditer(text.replace("$$", "")) if not m["op"]}
    required |= {m["name"] for m in VARIABLE.finditer(text) if m["op"] in (":?", "?")}
    assert required <= set(example), required - set(example)
    for name in example:
        assert name in readme, f"{name} (env.example) is not explained in deploy/README.md"


def test_the_dockerfile_builds_a_non_root_image_with_static_files():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.13-slim\b", text, re.M)
    assert "pip install -r requirements.txt" in text
    assert "collectstatic --noinput" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entrypoint = DEPLOY / "docker-entrypoint.sh"
    assert '"/app/deploy/docker-entrypoint.sh"' in text
    assert os.access(entrypoint, os.X_OK)
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", ".git", "deploy/.env"} <= set(ignored)


# --- deploy/healthcheck.py ------------------------------------------------------------
def test_the_healthcheck_asks_healthz_as_an_allowed_host(monkeypatch):
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers["Host"]))
            self.send_response(200 if self.path == "/healthz" else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PORT", str(server.server_port))
        monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "*,.study.example.org,other.org")
        assert healthcheck.main(["/healthz"]) == 0
        assert healthcheck.main(["/broken"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert seen[0] == ("/healthz", "study.example.org")


def test_the_healthcheck_fails_when_nothing_listens(monkeypatch, unused_tcp_port):
    monkeypatch.setenv("PORT", str(unused_tcp_port))
    assert healthcheck.main([]) == 1


# --- deploy/docker-entrypoint.sh ------------------------------------------------------
def test_the_entrypoint_empties_the_metrics_folder_and_runs_the_command(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_123.db").write_bytes(b"stale")
    env = {
        "PATH": os.environ["PATH"],
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "STUDYAPP_RUN_DIR": str(tmp_path / "run"),
        "DJANGO_ALLOWED_HOSTS": "study.example.org",
        "ALLOW_OWN_ADDRESS": "1",
    }
    done = subprocess.run(
        ["sh", str(DEPLOY / "docker-entrypoint.sh"), "sh", "-c", "echo $DJANGO_ALLOWED_HOSTS"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert list(metrics_dir.iterdir()) == []
    assert (tmp_path / "run").is_dir()
    hosts = done.stdout.strip().split(",")
    assert hosts[0] == "study.example.org" and len(hosts) == 2
