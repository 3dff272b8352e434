"""A Python client generated from the committed document by openapi-python-client issues a
certificate from Pebble, finds it in the list and downloads its chain."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "certkeeper_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    out = tmp_path_factory.mktemp("client")
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(ROOT / "docs" / "openapi.json"),
         "--config", str(ROOT / "docs" / "openapi-client.yaml"), "--meta", "none",
         "--output-path", str(out / PACKAGE)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(out))
    try:
        names = ["client", "models", "api.certificate_requests.create_certificate_request",
                 "api.certificate_requests.get_certificate_request",
                 "api.certificates.list_certificates", "api.certificates.get_certificate_pem"]
        yield {name: importlib.import_module(f"{PACKAGE}.{name}") for name in names}
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_generated_client_issues_lists_and_downloads(
    generated: dict[str, ModuleType], embedded: Stack
) -> None:
    models: Any = generated["models"]
    client = generated["client"].AuthenticatedClient(
        base_url=embedded.base_url, token=embedded.admin_token, raise_on_unexpected_status=True
    )
    with client:
        body = models.CertificateRequestCreate(
            common_name="generated.example.test", key_type=models.KeyType.EC,
            curve=models.Curve.P_256,
        )
        created = generated["api.certificate_requests.create_certificate_request"].sync(
            client=client, body=body)
        assert isinstance(created, models.CertificateRequestPublic), created
        request = _wait_issued(generated, client, created.id)
        page = generated["api.certificates.list_certificates"].sync(
            client=client, domain="generated.example.test")
        assert isinstance(page, models.CertificatePage), page
        assert [c.id for c in page.items] == [request.certificate_id]
        assert page.items[0].status == models.CertificateStatus.ACTIVE
        chain = generated["api.certificates.get_certificate_pem"].sync(
            request.certificate_id, client=client)
        assert isinstance(chain, str) and chain.count("BEGIN CERTIFICATE") >= 2
        missing = generated["api.certificates.get_certificate_pem"].sync(
            created.id, client=client)  # a request id is no certificate id
        assert isinstance(missing, models.ProblemBody) and missing.status == 404


def _wait_issued(generated: dict[str, ModuleType], client: Any, request_id: Any) -> Any:
    get = generated["api.certificate_requests.get_certificate_request"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = get.sync(request_id, client=client)
        if current.status.value in {"issued", "failed", "cancelled"}:
            assert current.status.value == "issued", current.to_dict()
            return current
        time.sleep(0.05)
    raise AssertionError(f"request {request_id} not issued in time")
