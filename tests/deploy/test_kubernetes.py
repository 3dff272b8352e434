"""deploy/k8s rendered with `kubectl kustomize` and validated offline against the schemas of a
pinned Kubernetes release (kubernetes-validate --strict), then checked for what the schemas
cannot see: real commands and settings, the restricted Pod Security Standard, probes,
resources, selectors that select, a NetworkPolicy, RBAC without wildcards."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.cli import _parser
from shared.config import Settings, load_settings
from shared.crypto import new_key_spec
from tests.deploy.lock import ROOT
from tests.deploy.tools import run_tool

KUBERNETES_VERSION = "1.33.0"
K8S = ROOT / "deploy" / "k8s"
TREES = {"base": K8S / "base", "example": K8S / "overlays" / "example"}
PROCESSES = {"api", "responder", "issuer", "renewer", "notifier"}
LISTENERS = {"api": ("CERTKEEPER_HTTP_PORT", "/readyz"),
             "responder": ("CERTKEEPER_RESPONDER_PORT", "/healthz")}
SETTINGS = {f"CERTKEEPER_{name.upper()}" for name in Settings.model_fields}
Doc = dict[str, Any]


@cache
def _rendered(tree: str) -> str:
    return run_tool("kubectl", "kustomize", str(TREES[tree]))


def _docs(tree: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(_rendered(tree)) if doc]


def _of_kind(tree: str, kind: str) -> list[Doc]:
    return [doc for doc in _docs(tree) if doc["kind"] == kind]


def _workloads(tree: str) -> list[Doc]:
    return _of_kind(tree, "Deployment") + _of_kind(tree, "Job")


def _component(doc: Doc) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def _container(doc: Doc) -> Doc:
    containers = doc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, doc["metadata"]["name"]
    return dict(containers[0])


def _config(tree: str) -> dict[str, str]:
    (config_map,) = _of_kind(tree, "ConfigMap")
    return dict(config_map["data"])


@pytest.mark.parametrize("tree", sorted(TREES))
def test_the_manifests_render_and_validate_against_the_pinned_kubernetes(
    tree: str, tmp_path: Path
) -> None:
    rendered = tmp_path / f"{tree}.yaml"
    rendered.write_text(_rendered(tree))
    report = run_tool("kubernetes-validate", "--strict", "--kubernetes-version",
                      KUBERNETES_VERSION, str(rendered))
    passed = [line for line in report.splitlines() if " passed for resource " in line]
    assert len(passed) == len(_docs(tree)), report


@pytest.mark.parametrize("tree", sorted(TREES))
def test_a_workload_per_process_each_running_a_certkeeper_command(tree: str) -> None:
    components = {_component(doc): doc for doc in _of_kind(tree, "Deployment")}
    assert set(components) == PROCESSES
    (job,) = _of_kind(tree, "Job")
    assert _container(job)["args"] == ["migrate"]
    for doc in _workloads(tree):
        args = _container(doc)["args"]
        try:
            _parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"{doc['metadata']['name']}: `certkeeper {' '.join(args)}` is no command")
        assert _container(doc)["image"].split(":")[-1] == "0.1.0"


@pytest.mark.parametrize("tree", sorted(TREES))
def test_the_config_map_holds_settings_the_processes_accept(
    tree: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tree)
    assert set(config) <= SETTINGS, f"no such settings: {sorted(set(config) - SETTINGS)}"
    for name in [n for n in os.environ if n.startswith("CERTKEEPER_")]:
        monkeypatch.delenv(name)
    for name, value in {
        **config,
        "CERTKEEPER_DATABASE_URL": "postgresql://certkeeper:pw@postgres:5432/certkeeper",
        "CERTKEEPER_REDIS_URL": "redis://redis:6379/0",
        "CERTKEEPER_ENCRYPTION_KEYS": new_key_spec(),
    }.items():
        monkeypatch.setenv(name, value)
    load_settings()
    (config_map,) = _of_kind(tree, "ConfigMap")
    for doc in _workloads(tree):
        container = _container(doc)
        refs = [ref for source in container.get("envFrom", []) for ref in source.values()]
        refs += [var["valueFrom"]["secretKeyRef"] for var in container.get("env", [])]
        assert {"name": config_map["metadata"]["name"]} in refs, doc["metadata"]["name"]
        assert all(ref["name"] in {config_map["metadata"]["name"], "certkeeper-secrets"}
                   for ref in refs)


@pytest.mark.parametrize("tree", sorted(TREES))
def test_every_pod_meets_the_restricted_pod_security_standard(tree: str) -> None:
    for doc in _workloads(tree):
        pod = doc["spec"]["template"]["spec"]
        name = doc["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["serviceAccountName"] == "certkeeper", name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        assert all("hostPath" not in volume for volume in pod.get("volumes", [])), name
        container = _container(doc)
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "memory" in resources["limits"], name


@pytest.mark.parametrize("tree", sorted(TREES))
def test_listeners_have_cheap_liveness_and_real_readiness_on_their_configured_port(
    tree: str,
) -> None:
    config = _config(tree)
    for doc in _of_kind(tree, "Deployment"):
        component, container = _component(doc), _container(doc)
        if component not in LISTENERS:
            assert "ports" not in container, f"{component} listens on nothing"
            continue
        port_setting, readiness = LISTENERS[component]
        assert container["ports"] == [{"name": "http", "containerPort": int(config[port_setting])}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": readiness, "port": "http"}


def _pod_labels(tree: str) -> dict[str, dict[str, str]]:
    return {doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["labels"]
            for doc in _workloads(tree)}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("tree", sorted(TREES))
def test_services_and_budgets_select_the_pods_they_are_for(tree: str) -> None:
    pods = _pod_labels(tree)
    services = {_component(doc): doc for doc in _of_kind(tree, "Service")}
    assert set(services) == {"api", "responder"}
    for component, service in services.items():
        chosen = [n for n, labels in pods.items() if _selects(service["spec"]["selector"], labels)]
        assert chosen == [f"certkeeper-{component}"], service["metadata"]["name"]
        assert service["spec"]["ports"][0]["targetPort"] == "http"
    deployments = {doc["metadata"]["name"]: doc for doc in _of_kind(tree, "Deployment")}
    for budget in _of_kind(tree, "PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        (chosen,) = [n for n, labels in pods.items() if _selects(selector, labels)]
        assert deployments[chosen]["spec"]["replicas"] > budget["spec"]["minAvailable"]


@pytest.mark.parametrize("tree", sorted(TREES))
def test_ingress_is_denied_except_to_the_responder_and_the_api(tree: str) -> None:
    pods = _pod_labels(tree)
    reachable: set[str] = set()
    denied: set[str] = set()
    for policy in _of_kind(tree, "NetworkPolicy"):
        chosen = {n for n, labels in pods.items()
                  if _selects(policy["spec"]["podSelector"]["matchLabels"], labels)}
        if not policy["spec"].get("ingress"):
            denied |= chosen
        else:
            reachable |= chosen
    assert denied == set(pods), "a pod is outside the default deny"
    assert reachable == {"certkeeper-api", "certkeeper-responder"}


@pytest.mark.parametrize("tree", sorted(TREES))
def test_rbac_grants_the_deployer_named_kinds_only_and_certkeeper_nothing(tree: str) -> None:
    kinds = {doc["kind"] for doc in _docs(tree)}
    assert not {"ClusterRole", "ClusterRoleBinding"} & kinds
    for role in _of_kind(tree, "Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{role['metadata']['name']}: * in {field}"
            if "secrets" in rule["resources"]:
                assert rule["resourceNames"] == ["certkeeper-secrets"]
                assert not {"list", "watch"} & set(rule["verbs"])
    for binding in _of_kind(tree, "RoleBinding"):
        assert all(subject["name"] != "certkeeper" for subject in binding["subjects"])


def test_the_example_overlay_enforces_the_restricted_standard_in_its_namespace() -> None:
    (namespace,) = _of_kind("example", "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in _docs("example"):
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace["metadata"]["name"], doc["kind"]
    (ingress,) = _of_kind("example", "Ingress")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["path"] == "/.well-known/acme-challenge/"
            assert path["backend"]["service"]["name"] == "certkeeper-responder"
