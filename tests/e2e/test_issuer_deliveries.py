"""Deliveries the issuer makes itself. Kubernetes: ``certkeeper all-in-one`` issues a
certificate and its issuer applies a ``kubernetes.io/tls`` Secret to a fake API server that
keeps the Kubernetes REST contract for Secrets (server-side apply, RBAC 403, 409 conflicts).
Webhooks: a signed POST of the certificate to a local receiver."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, embedded_stack
from tests.harness.kube import FakeKube, fake_kube
from tests.harness.ports import HOST
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
    cert = stack.issued_certificate("www.shop.example.test")

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
    stack.issued_certificate("denied.example.test")

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
    stack.issued_certificate("owned.example.test")

    done = _deployment(stack, target["id"], "failed")

    assert "409" in done["error"]["detail"] and "field manager" in done["error"]["detail"]
    assert kube.secrets[("web", "owned-tls")]["data"]["tls.crt"] == ""


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]
    answer: list[int]

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(self.answer[0])
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextlib.contextmanager
def receiver(answer: int) -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("Handler", (Receiver,), {"received": [], "answer": [answer]})
    server = ThreadingHTTPServer((HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_gets_the_signed_certificate_without_the_key(
    kube_rig: tuple[Stack, FakeKube, Path],
) -> None:
    stack = kube_rig[0]
    key = secrets.token_bytes(32)
    secret = "whsec_" + base64.b64encode(key).decode()
    with receiver(204) as (url, handler):
        response = stack.client().post("/v1/deployment-targets", json={
            "name": "hook", "kind": "webhook", "domains": ["hook.example.test"],
            "config": {"url": url}, "secret": secret})
        assert response.status_code == 201, response.text
        assert response.json()["secret_set"] == ["secret"] and "whsec" not in response.text
        cert = stack.issued_certificate("hook.example.test")
        _deployment(stack, response.json()["id"], "deployed")
    headers, body = handler.received[0]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    payload = json.loads(body)
    assert payload["type"] == "certificate.issued"
    assert payload["data"]["certificate_id"] == cert["id"]
    assert payload["data"]["fullchain_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "key_pem" not in payload["data"]


def test_a_failing_webhook_is_failed_and_retried(
    kube_rig: tuple[Stack, FakeKube, Path],
) -> None:
    stack = kube_rig[0]
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with receiver(500) as (url, handler):
        response = stack.client().post("/v1/deployment-targets", json={
            "name": "broken hook", "kind": "webhook", "domains": ["broken.example.test"],
            "config": {"url": url, "include_private_key": True}, "secret": secret})
        assert response.status_code == 201, response.text
        stack.issued_certificate("broken.example.test")
        done = _deployment(stack, response.json()["id"], "failed")
    assert "500" in done["error"]["detail"] and done["next_run_at"] is not None
    assert "key_pem" in json.loads(handler.received[0][1])["data"]
