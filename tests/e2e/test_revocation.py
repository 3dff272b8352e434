"""Revocation and deletion, confirmed by the CA (Pebble's management API) and the database."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from josepy.jwk import JWK

from tests.e2e.conftest import with_account
from tests.e2e.db import query
from tests.e2e.stack import Stack, production_stack
from tests.harness.faults import FaultProxy

REVOKE = "/revoke-cert"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The production topology, its CA reached through the proxy that reads every JWS."""
    with production_stack(faults=True) as started:
        yield with_account(started)




def _proxy(stack: Stack) -> FaultProxy:
    assert stack.proxy is not None
    return stack.proxy


def _ca_status(stack: Stack, serial: str) -> tuple[str, int | None]:
    status = stack.pebble.cert_status(serial)
    return status["Status"], status.get("Reason")


def test_revoke_with_the_account_key_is_confirmed_by_the_ca(stack: Stack) -> None:
    cert = stack.issued_certificate("revoke-account.example.test")
    client = stack.client()
    assert _ca_status(stack, cert["serial"])[0] == "Valid"
    revoked = client.post(f"/v1/certificates/{cert['id']}/revoke", json={"reason": "superseded"})
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["status"] == "revoked" and body["revocation_reason"] == "superseded"
    assert body["revoked_at"] is not None
    assert _ca_status(stack, cert["serial"]) == ("Revoked", 4)
    signed = _proxy(stack).signed_to(REVOKE)  # more than one when a nonce was refused
    assert signed and all("kid" in s.protected and "jwk" not in s.protected for s in signed)
    again = client.post(f"/v1/certificates/{cert['id']}/revoke", json={"reason": "unspecified"})
    assert again.status_code == 200 and again.json() == body  # nothing changed, CA not asked
    assert len(_proxy(stack).signed_to(REVOKE)) == len(signed)
    assert _audit(stack, "certificate.revoked", cert["id"]) == 1
    active = client.get("/v1/certificates", params={"status": "active"}).json()["items"]
    assert cert["id"] not in {c["id"] for c in active}


def test_key_compromise_is_signed_with_the_certificates_own_key(stack: Stack) -> None:
    cert = stack.issued_certificate("revoke-key.example.test")
    client = stack.client()
    before = len(_proxy(stack).signed_to(REVOKE))
    revoked = client.post(f"/v1/certificates/{cert['id']}/revoke",
                          json={"reason": "key_compromise"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revocation_reason"] == "key_compromise"
    assert _ca_status(stack, cert["serial"]) == ("Revoked", 1)
    signed = _proxy(stack).signed_to(REVOKE)[before:]  # more than one if a nonce was refused
    leaf = x509.load_pem_x509_certificate(
        client.get(f"/v1/certificates/{cert['id']}/pem").content
    )
    assert signed
    for attempt in signed:
        assert "kid" not in attempt.protected
        signer = JWK.from_json(attempt.protected["jwk"]).public_key()
        assert _spki(signer.key) == _spki(leaf.public_key())


def _spki(key: Any) -> bytes:
    spki: bytes = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return spki


@pytest.mark.parametrize("reason", ["keyCompromise", "privilege_withdrawn", "", None, 1])
def test_reasons_outside_the_list_are_refused(stack: Stack, reason: Any) -> None:
    cert = (stack.issued_certificate("revoke-bad.example.test")
            if reason == "keyCompromise" else None)
    target = cert["id"] if cert else _any_active(stack)
    before = len(_proxy(stack).signed_to(REVOKE))
    refused = stack.client().post(f"/v1/certificates/{target}/revoke", json={"reason": reason})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert len(_proxy(stack).signed_to(REVOKE)) == before
    assert stack.client().get(f"/v1/certificates/{target}").json()["status"] == "active"


def _any_active(stack: Stack) -> str:
    items = stack.client().get("/v1/certificates", params={"status": "active"}).json()["items"]
    if items:
        return str(items[0]["id"])
    return str(stack.issued_certificate("revoke-any.example.test")["id"])


def test_delete_destroys_the_key_and_keeps_a_tombstone(stack: Stack) -> None:
    old, new = (stack.issued_certificate(f"delete-{n}.example.test") for n in ("old", "new"))
    # As a renewal links them: the new certificate replaces the old one.
    query(stack, f"UPDATE certificates SET replaces_id = '{old['id']}' WHERE id = '{new['id']}'")
    [[sealed]] = query(stack, "SELECT encode(private_key_sealed, 'hex') FROM certificates "
                              f"WHERE id = '{old['id']}'")
    client = stack.client()
    deleted = client.delete(f"/v1/certificates/{old['id']}")
    assert deleted.status_code == 204, deleted.text
    assert client.get(f"/v1/certificates/{old['id']}").status_code == 404
    assert client.delete(f"/v1/certificates/{old['id']}").status_code == 404
    dump = subprocess.run(["pg_dump", "--data-only", stack.postgres.dsn],  # type: ignore[union-attr]
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert sealed[:64] not in dump and old["id"] in dump  # the tombstone names it
    assert client.get(f"/v1/certificates/{new['id']}").json()["replaces_id"] is None
    request = client.get(f"/v1/certificate-requests/{old['request_id']}").json()
    assert request["certificate_id"] is None
    [[actor, details]] = query(stack, "SELECT actor_name, details FROM audit_events WHERE action "
                                      f"= 'certificate.deleted' AND target_id = '{old['id']}'")
    assert actor == "e2e-admin"
    for field in (old["serial"], old["fingerprint_sha256"], "delete-old.example.test"):
        assert field in details
    assert _ca_status(stack, old["serial"])[0] == "Valid"  # deletion is not revocation


def test_deleting_a_renewal_keeps_the_certificate_it_replaced(stack: Stack) -> None:
    """Found by the fuzzer: the renewed certificate points at its renewal
    (``replaced_by_id``); deleting the renewal must clear that pointer, not fail."""
    old, new = (stack.issued_certificate(f"renewal-{n}.example.test") for n in ("old", "new"))
    query(stack, f"UPDATE certificates SET replaces_id = '{old['id']}' WHERE id = '{new['id']}'")
    query(stack, f"UPDATE certificates SET replaced_by_id = '{new['id']}' "
                 f"WHERE id = '{old['id']}'")
    client = stack.client()
    deleted = client.delete(f"/v1/certificates/{new['id']}")
    assert deleted.status_code == 204, deleted.text
    kept = client.get(f"/v1/certificates/{old['id']}").json()
    assert kept["replaced_by_id"] is None and kept["id"] == old["id"]


def test_delete_with_revoke_revokes_first(stack: Stack) -> None:
    cert = stack.issued_certificate("delete-revoke.example.test")
    deleted = stack.client().delete(f"/v1/certificates/{cert['id']}", params={"revoke": "true"})
    assert deleted.status_code == 204, deleted.text
    assert _ca_status(stack, cert["serial"]) == ("Revoked", 5)
    assert _audit(stack, "certificate.revoked", cert["id"]) == 1
    assert _audit(stack, "certificate.deleted", cert["id"]) == 1


def _audit(stack: Stack, action: str, target: str) -> int:
    rows = query(stack, f"SELECT count(*) FROM audit_events WHERE action = '{action}' "
                        f"AND target_id = '{target}'")
    return int(rows[0][0])


