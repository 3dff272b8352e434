"""The repository: listing and filters, chains, key export and its audit, secrets at rest."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from tests.e2e.db import query
from tests.e2e.stack import Stack


@pytest.fixture(scope="module")
def issued(prod: Stack) -> list[dict[str, Any]]:
    names = ["list-a.example.test", "list-b.example.test", "bücher.example.test"]
    with ThreadPoolExecutor(3) as pool:
        return list(pool.map(prod.issue, names))


def test_domain_filter_finds_exactly_the_certificate(prod: Stack, issued: list[Any]) -> None:
    client = prod.client()
    page = client.get("/v1/certificates", params={"domain": "list-b.example.test"}).json()
    assert [c["id"] for c in page["items"]] == [issued[1]["certificate_id"]]
    idn = client.get("/v1/certificates", params={"domain": "BÜCHER.example.test."}).json()
    assert [c["names"] for c in idn["items"]] == [["xn--bcher-kva.example.test"]]


def test_status_and_expiry_filters(prod: Stack, issued: list[Any]) -> None:
    client = prod.client()
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=20 * 365)).isoformat()
    assert client.get("/v1/certificates", params={"expires_before": soon}).json()["items"] == []
    ids = {c["id"] for c in _all(client, {"expires_before": later, "status": "active"})}
    assert {i["certificate_id"] for i in issued} <= ids
    assert client.get("/v1/certificates", params={"status": "revoked"}).json()["items"] == []


def test_cursor_pagination_walks_every_certificate_once(prod: Stack, issued: list[Any]) -> None:
    client = prod.client()
    total = query(prod, "SELECT count(*) FROM certificates")[0][0]
    walked = [c["id"] for c in _all(client, {"limit": 2})]
    assert len(walked) == len(set(walked)) == int(total)
    created = [c["created_at"] for c in _all(client, {"limit": 2})]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize("stack_name", ["prod", "embedded"])
def test_a_listed_certificate_reads_as_the_certificate_itself(
    stack_name: str, request: pytest.FixtureRequest
) -> None:
    """The list builds its items from plain columns (Postgres and SQLite); each shows
    exactly what GET /v1/certificates/{id} shows (the production stack's Pebble offers
    alternate chains, so their count is compared too)."""
    stack: Stack = request.getfixturevalue(stack_name)
    cert_id = stack.issue("list-same.example.test")["certificate_id"]
    client = stack.client()
    listed = client.get("/v1/certificates", params={"domain": "list-same.example.test"})
    single = client.get(f"/v1/certificates/{cert_id}").json()
    assert listed.json()["items"] == [single]


def _all(client: httpx.Client, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get("/v1/certificates", params={**params, "cursor": cursor} if cursor
                          else params).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_alternate_chain_leads_to_the_alternate_root(prod: Stack, issued: list[Any]) -> None:
    client = prod.client()
    cert_id = issued[0]["certificate_id"]
    assert client.get(f"/v1/certificates/{cert_id}").json()["alternate_chains"] == 1
    leaf, *chain = x509.load_pem_x509_certificates(
        client.get(f"/v1/certificates/{cert_id}/pem", params={"alternate": 1}).content
    )
    with httpx.Client(verify=prod.pebble.ssl_context()) as management:
        root_pem = management.get(f"{prod.pebble.management_url}/roots/1").content
    verifier = (
        PolicyBuilder().store(Store([x509.load_pem_x509_certificate(root_pem)]))
        .time(datetime.now(UTC)).build_server_verifier(x509.DNSName("list-a.example.test"))
    )
    verifier.verify(leaf, chain)
    missing = client.get(f"/v1/certificates/{cert_id}/pem", params={"alternate": 2})
    assert missing.status_code == 404


def test_private_key_export_is_audited_and_needs_operator(
    prod: Stack, issued: list[Any]
) -> None:
    cert_id = issued[0]["certificate_id"]
    viewer = prod.client(prod.create_token("viewer", "e2e-key-viewer"))
    assert viewer.get(f"/v1/certificates/{cert_id}/private-key").status_code == 403
    before = _exports(prod, cert_id)
    exported = prod.client().get(f"/v1/certificates/{cert_id}/private-key")
    assert exported.status_code == 200
    assert exported.headers["cache-control"] == "no-store"
    assert _exports(prod, cert_id) == [*before, "e2e-admin"]


def _exports(stack: Stack, cert_id: str) -> list[str]:
    rows = query(stack, "SELECT actor_name FROM audit_events WHERE action = "
                        f"'certificate.private_key_exported' AND target_id = '{cert_id}' "
                        "ORDER BY at")
    return [r[0] for r in rows]


def test_secrets_never_rest_in_plaintext(prod: Stack, issued: list[Any]) -> None:
    """No private key, account key or token is readable in a database dump or the logs."""
    assert prod.postgres is not None
    key_pem = prod.client().get(
        f"/v1/certificates/{issued[0]['certificate_id']}/private-key"
    ).text
    key_body = "".join(key_pem.strip().splitlines()[1:-1])
    dump = subprocess.run(["pg_dump", "--data-only", prod.postgres.dsn], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    assert "acme_accounts" in dump and len(dump) > 10_000
    logs = prod.logs()
    for text in (dump, logs):
        assert "PRIVATE KEY" not in text
        assert key_body[:64] not in text
        assert prod.admin_token not in text


def test_cancel_stops_a_waiting_request(prod: Stack) -> None:
    client = prod.client()
    created = client.post("/v1/certificate-requests", json={
        "common_name": "cancel.example.test", "challenge_type": "dns-01", "validation": "manual",
    })
    request_id = created.json()["id"]
    prod.wait_status(request_id, "awaiting_manual_validation")
    cancelled = client.post(f"/v1/certificate-requests/{request_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(f"/v1/certificate-requests/{request_id}/verify").status_code == 409
    assert client.get(f"/v1/certificate-requests/{request_id}").json()["certificate_id"] is None
