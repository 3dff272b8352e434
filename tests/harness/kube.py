"""A fake Kubernetes API server for Secrets, following the REST contract the real one keeps
for the calls Certkeeper makes (no local Kubernetes exists on the test machines):

- bearer-token authentication (``401`` Status otherwise);
- ``PATCH /api/v1/namespaces/{ns}/secrets/{name}`` with ``application/apply-patch+yaml``
  (server-side apply): ``fieldManager`` required (``400``), the body's name and namespace
  must match the path (``400``), RBAC per namespace (``403`` Forbidden Status naming the
  user, the verb, the resource and the namespace), and fields owned by another manager are
  a ``409`` Conflict unless ``force=true``; ``201`` when created, ``200`` when updated, with
  ``metadata.managedFields``; other patch content types are ``415``;
- ``GET`` of the same path (``404`` NotFound Status when absent).

Errors are ``Status`` objects, as the API server sends them.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.harness.ports import HOST

SECRET_PATH = "/api/v1/namespaces/{ns}/secrets/{name}"
USER = "system:serviceaccount:certkeeper:certkeeper"


def status(code: int, reason: str, message: str, name: str = "") -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code,
            "details": {"name": name, "kind": "secrets"}}


@dataclass
class FakeKube:
    token: str
    allowed_namespaces: set[str]
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # (namespace, name) -> field manager that owns .data of the Secret
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, type
    url: str = ""

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "certkeeper", "user": {"token": self.token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "certkeeper"}}],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def own(self, namespace: str, name: str, manager: str) -> None:
        """A Secret another field manager (e.g. ``kubectl``) applied before us."""
        self.secrets[(namespace, name)] = {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace, "managedFields": [
                {"manager": manager, "operation": "Apply"}]},
            "data": {"tls.crt": "", "tls.key": ""},
        }
        self.owners[(namespace, name)] = manager

    def apply(self, namespace: str, name: str, query: dict[str, list[str]],
              body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        manager = (query.get("fieldManager") or [""])[0]
        if not manager:
            return 400, status(400, "BadRequest", "PATCH requests with apply require a "
                               "fieldManager", name)
        meta = body.get("metadata") or {}
        if meta.get("name") != name or meta.get("namespace", namespace) != namespace:
            return 400, status(400, "BadRequest", "the name of the object does not match "
                               "the name on the URL", name)
        owner = self.owners.get((namespace, name))
        force = (query.get("force") or ["false"])[0] == "true"
        if owner is not None and owner != manager and not force:
            return 409, status(409, "Conflict", f'Apply failed with 1 conflict: conflict with '
                               f'"{owner}" using v1: .data', name)
        created = (namespace, name) not in self.secrets
        stored = {**body, "metadata": {**meta, "namespace": namespace,
                                       "managedFields": [{"manager": manager,
                                                          "operation": "Apply"}]}}
        self.secrets[(namespace, name)] = stored
        self.owners[(namespace, name)] = manager
        return (201 if created else 200), stored


class KubeHandler(BaseHTTPRequestHandler):
    kube: FakeKube  # set on the subclass each server gets

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> tuple[str, str, dict[str, list[str]]] | None:
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 6 or segments[:3] != ["api", "v1", "namespaces"] \
                or segments[4] != "secrets":
            return None
        return segments[3], segments[5], parse_qs(parts.query)

    def _check(self, verb: str) -> tuple[str, str, dict[str, list[str]]] | None:
        self.kube.calls.append((verb, self.path, self.headers.get("Content-Type", "")))
        if self.headers.get("Authorization") != f"Bearer {self.kube.token}":
            self._send(401, status(401, "Unauthorized", "Unauthorized"))
            return None
        route = self._route()
        if route is None:
            self._send(404, status(404, "NotFound", "the server could not find the "
                                   "requested resource"))
            return None
        namespace, name, _ = route
        if namespace not in self.kube.allowed_namespaces:
            self._send(403, status(403, "Forbidden", f'secrets "{name}" is forbidden: User '
                       f'"{USER}" cannot {verb} resource "secrets" in API group "" in '
                       f'the namespace "{namespace}"', name))
            return None
        return route

    def do_GET(self) -> None:
        route = self._check("get")
        if route is None:
            return
        namespace, name, _ = route
        found = self.kube.secrets.get((namespace, name))
        if found is None:
            self._send(404, status(404, "NotFound", f'secrets "{name}" not found', name))
        else:
            self._send(200, found)

    def do_PATCH(self) -> None:
        route = self._check("patch")
        if route is None:
            return
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.headers.get("Content-Type", "").split(";")[0] != \
                "application/apply-patch+yaml":
            self._send(415, status(415, "UnsupportedMediaType", "this fake serves "
                                   "server-side apply only"))
            return
        try:
            body = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            self._send(400, status(400, "BadRequest", f"error decoding YAML: {exc}"))
            return
        namespace, name, query = route
        code, answer = self.kube.apply(namespace, name, query, body)
        self._send(code, answer)


@contextlib.contextmanager
def fake_kube(token: str, allowed_namespaces: set[str]) -> Iterator[FakeKube]:
    kube = FakeKube(token, allowed_namespaces)
    handler = type("Handler", (KubeHandler,), {"kube": kube})
    server = ThreadingHTTPServer((HOST, 0), handler)
    kube.url = f"http://{HOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield kube
    finally:
        server.shutdown()
        server.server_close()
