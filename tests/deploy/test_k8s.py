"""deploy/k8s: every manifest against Kubernetes' own schemas, offline, and the topology rules.

kubernetes-validate ships the OpenAPI-derived JSON schemas of each Kubernetes release, so no
cluster and no network is needed. Strict mode also refuses fields the schema does not know
(a misspelt `readinessProbe` would otherwise be ignored by the API server's old versions).
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
# The oldest release still commonly run, and the newest the validator knows.
VERSIONS = ("1.33.0", "1.37.0")
NOT_APPLIED = {"kustomization.yaml", "secret.example.yaml"}


def documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


@pytest.fixture(scope="module")
def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


@pytest.fixture(scope="module")
def resources(kustomization) -> list[dict]:
    return [d for name in kustomization["resources"] for d in documents(name)]


def find(resources: list[dict], kind: str, name: str) -> dict:
    (found,) = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def workloads(resources: list[dict]) -> list[dict]:
    return [r for r in resources if r["kind"] in ("Deployment", "StatefulSet", "Job")]


def test_the_kustomization_lists_every_manifest_once(kustomization):
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    on_disk = {p.name for p in K8S.glob("*.yaml")} - NOT_APPLIED
    assert set(listed) == on_disk
    assert "secret.example.yaml" not in listed  # placeholder secrets never reach a cluster


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "name", sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
)
def test_each_manifest_is_valid_for_kubernetes(name, version):
    for document in documents(name):
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {document['kind']}/{document['metadata']['name']}: {exc}")


def test_everything_is_in_the_namespace(resources):
    for r in resources:
        if r["kind"] != "Namespace":
            assert r["metadata"]["namespace"] == "studyapp", r["metadata"]["name"]


def test_web_is_replicated_probed_bounded_and_unprivileged(resources):
    web = find(resources, "Deployment", "web")
    assert web["spec"]["replicas"] >= 2
    spec = pod_spec(web)
    assert spec["securityContext"]["runAsNonRoot"] is True
    (container,) = spec["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    for c in containers(web):
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
    command = " ".join(container["command"])
    assert "--ws-max-size=65536" in command and "--proxy-headers" in command
    env = {e["name"]: e for e in container["env"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"]["value"].startswith(
        tuple(m["mountPath"] for m in container["volumeMounts"])
    )
    # Probes and Prometheus use the pod's IP as the Host.
    assert "$(POD_IP)" in env["DJANGO_ALLOWED_HOSTS"]["value"]


def test_web_waits_for_the_migration_job(resources):
    (init,) = pod_spec(find(resources, "Deployment", "web"))["initContainers"]
    assert "migrate --check" in " ".join(init["command"])
    job = find(resources, "Job", "migrate")
    assert pod_spec(job)["containers"][0]["command"][-2:] == ["migrate", "--noinput"]


def test_there_is_one_beat_replaced_not_rolled(resources):
    beat = find(resources, "Deployment", "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    beats = [
        w["metadata"]["name"]
        for w in workloads(resources)
        for c in pod_spec(w)["containers"]
        if "celery" in c.get("command", []) and "beat" in c["command"]
    ]
    assert beats == ["beat"]


def test_redis_keeps_an_append_only_file_on_a_volume(resources):
    redis = find(resources, "StatefulSet", "redis")
    (container,) = pod_spec(redis)["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]


def test_postgres_keeps_its_data_on_a_volume(resources):
    postgres = find(resources, "StatefulSet", "postgres")
    (claim,) = postgres["spec"]["volumeClaimTemplates"]
    mounts = pod_spec(postgres)["containers"][0]["volumeMounts"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/var/lib/postgresql/data"} in mounts


def test_each_model_server_has_a_gpu_a_health_probe_and_a_service(resources):
    servers = [
        w
        for w in workloads(resources)
        if pod_spec(w)["containers"][0]["image"].startswith("vllm/vllm-openai")
    ]
    assert len(servers) >= 1
    services = [r for r in resources if r["kind"] == "Service"]
    for server in servers:
        (container,) = pod_spec(server)["containers"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"
        assert server["spec"]["strategy"]["type"] == "Recreate"
        labels = server["spec"]["template"]["metadata"]["labels"]
        assert any(s["spec"]["selector"].items() <= labels.items() for s in services)


def test_services_and_ingresses_point_at_something(resources):
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads(resources)]
    services = {r["metadata"]["name"] for r in resources if r["kind"] == "Service"}
    for r in resources:
        if r["kind"] == "Service":
            assert any(r["spec"]["selector"].items() <= labels.items() for labels in pod_labels)
        if r["kind"] == "Ingress":
            for rule in r["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    assert path["backend"]["service"]["name"] in services


def test_the_websocket_timeouts_are_on_the_ingress(resources):
    annotations = find(resources, "Ingress", "studyapp")["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600


def test_config_and_secret_references_resolve(resources):
    configmaps = {r["metadata"]["name"] for r in resources if r["kind"] == "ConfigMap"}
    (secret,) = documents("secret.example.yaml")
    secret_keys = set(secret["stringData"])
    for workload in workloads(resources):
        for c in containers(workload):
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == secret["metadata"]["name"]
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == secret["metadata"]["name"]
                    assert ref["key"] in secret_keys, ref["key"]


def test_the_network_policy_names_existing_components(resources):
    components = {
        w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for w in workloads(resources)
    }
    for policy in (r for r in resources if r["kind"] == "NetworkPolicy"):
        selectors = [policy["spec"]["podSelector"]] + [
            peer.get("podSelector", {})
            for rule in policy["spec"].get("ingress", [])
            for peer in rule["from"]
        ]
        for selector in selectors:
            for expression in selector.get("matchExpressions", []):
                assert set(expression["values"]) <= components, expression
