"""Delivery to Kubernetes Secrets: ``certkeeper all-in-one`` issues a certificate and its
issuer applies a ``kubernetes.io/tls`` Secret to a fake API server that keeps the Kubernetes
REST contract for Secrets (server-side apply, RBAC 403, 409 conflicts)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, embedded_stack
from tests.harness.kube import FakeKube, fake_kube
from tests.harness.process import temp_dir


@pytest.fixture(scope="module")
def kube_rig() -> Iterator[tuple[Stack, FakeKube, Path]]:
    with (
        temp_dir("ck-kube-") as work,
        fake_kube("kube-token", {"web"}) as kube,
        embedded_stack() as stack,
    ):
        yield with_account(stack), kube, kube.kubeconfig(work / "kubeconfig")


def _target(stack: Stack, kubeconfig: Path, name: str, namespace: str, domain: str
            ) -> dict[str, Any]:
    response = stack.client().post("/v1/deployment-targets", json={
        "name": name, "kind": "kubernetes-secret", "domains": [domain],
        "config": {"namespace": namespace, "secret_name": f"{name}-tls",
                   "kubeconfig": str(kubeconfig)},
    })
    assert response.status_code == 201, response.text
    return dict(response.json())


def _issue(stack: Stack, name: str) -> dict[str, Any]:
    response = stack.client().post("/v1/certificate-requests",
                                   json={"common_name": name, "key_type": "ec"})
    assert response.status_code == 202, response.text
    done = stack.wait_final(response.json()["id"])
    assert done["status"] == "issued", done
    return dict(stack.client().get(f"/v1/certificates/{done['certificate_id']}").json())


def _deployment(stack: Stack, target_id: str, wanted: str, timeout: float = 30
                ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = stack.client().get(f"/v1/deployment-targets/{target_id}").json()
        if body["deployments"] and body["deployments"][0]["status"] == wanted:
            return dict(body["deployments"][0])
        time.sleep(0.1)
    raise AssertionError(f"deployment not {wanted}: {body}\n{stack.logs()}")


def test_a_tls_secret_is_applied_server_side(kube_rig: tuple[Stack, FakeKube, Path]) -> None:
    stack, kube, kubeconfig = kube_rig
    target = _target(stack, kubeconfig, "shop", "web", "shop.example.test")
    cert = _issue(stack, "www.shop.example.test")

    done = _deployment(stack, target["id"], "deployed")

    assert done["certificate_id"] == cert["id"] and done["error"] is None
    secret = kube.secrets[("web", "shop-tls")]
    assert secret["type"] == "kubernetes.io/tls"
    pem = stack.client().get(f"/v1/certificates/{cert['id']}/pem").text
    assert base64.b64decode(secret["data"]["tls.crt"]).decode() == pem
    key = stack.client().get(f"/v1/certificates/{cert['id']}/private-key").text
    assert base64.b64decode(secret["data"]["tls.key"]).decode() == key
    assert pem.endswith(base64.b64decode(secret["data"]["ca.crt"]).decode())
    annotations = secret["metadata"]["annotations"]
    assert annotations["certkeeper.dev/certificate-id"] == cert["id"]
    assert annotations["certkeeper.dev/serial"] == cert["serial"]
    patches = [c for c in kube.calls if c[0] == "patch"]
    assert patches and all(c[2] == "application/apply-patch+yaml" for c in patches)
    assert "fieldManager=certkeeper" in patches[0][1]


def test_rbac_denial_is_a_clear_failure_retried_later(
    kube_rig: tuple[Stack, FakeKube, Path],
) -> None:
    stack, _kube, kubeconfig = kube_rig
    target = _target(stack, kubeconfig, "denied", "payments", "denied.example.test")
    _issue(stack, "denied.example.test")

    done = _deployment(stack, target["id"], "failed")

    assert done["error"]["type"] == "urn:certkeeper:problem:deployment-failed"
    assert "RBAC" in done["error"]["detail"] and "payments" in done["error"]["detail"]
    assert done["next_run_at"] is not None and done["attempts"] == 1


def test_a_secret_owned_by_another_manager_is_a_conflict_not_taken_over(
    kube_rig: tuple[Stack, FakeKube, Path],
) -> None:
    stack, kube, kubeconfig = kube_rig
    kube.own("web", "owned-tls", "kubectl-client-side-apply")
    target = _target(stack, kubeconfig, "owned", "web", "owned.example.test")
    _issue(stack, "owned.example.test")

    done = _deployment(stack, target["id"], "failed")

    assert "409" in done["error"]["detail"] and "field manager" in done["error"]["detail"]
    assert kube.secrets[("web", "owned-tls")]["data"]["tls.crt"] == ""
