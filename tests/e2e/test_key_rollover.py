"""ACME account key rollover (RFC 8555 7.3.5) against Pebble, through the fault proxy:
the CA switches keys, orders in flight carry on, and an attempt whose answer was lost after
the CA had switched is finished by the next one."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from uuid import UUID

import pytest
from cryptography.hazmat.primitives import serialization

from shared.crypto import Keyring
from shared.models import AcmeAccount
from tests.e2e.conftest import with_account
from tests.e2e.db import query
from tests.e2e.stack import Stack, production_stack
from tests.harness.faults import Fault, Hold

P = "urn:certkeeper:problem:"
KEY_CHANGE = "/rollover-account-key"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with production_stack(faults=True) as started:
        yield with_account(started)


def _account_id(stack: Stack) -> str:
    return str(stack.client().get("/v1/acme-accounts").json()["items"][0]["id"])


def _keys(stack: Stack, account_id: str) -> tuple[bytes, bytes | None]:
    """The account's key and pending key (public parts, DER), opened as the service would."""
    keyring = Keyring.parse(stack.env["CERTKEEPER_ENCRYPTION_KEYS"])
    [[key_hex, pending_hex]] = query(
        stack, f"SELECT key_sealed, pending_key_sealed FROM acme_accounts "
               f"WHERE id = '{account_id}'")
    key = keyring.open(bytes.fromhex(key_hex[2:]), AcmeAccount.sealing_context(UUID(account_id)))
    pending = None
    if pending_hex:
        context = AcmeAccount.sealing_context(UUID(account_id), "pending_key_sealed")
        pending = _public(keyring.open(bytes.fromhex(pending_hex[2:]), context))
    return _public(key), pending


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public(key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _issue(stack: Stack, name: str) -> dict[str, object]:
    created = stack.client().post("/v1/certificate-requests",
                                  json={"common_name": name, "key_type": "ec"})
    assert created.status_code == 202, created.text
    return stack.wait_final(created.json()["id"], timeout=90)


def test_rollover_switches_the_key_and_an_order_in_flight_completes(stack: Stack) -> None:
    assert stack.proxy is not None
    account_id = _account_id(stack)
    old_key, _ = _keys(stack, account_id)
    hold = Hold("POST", "/chalZ/")  # the issuer tells the CA to validate, signed by the old key
    stack.proxy.holds.append(hold)
    created = stack.client().post("/v1/certificate-requests",
                                  json={"common_name": "inflight.example.test", "key_type": "ec"})
    assert created.status_code == 202, created.text
    assert hold.held.wait(30), "the issuer never answered the challenge"

    rolled = stack.client().post(f"/v1/acme-accounts/{account_id}/key-rollover",
                                 json={"key_type": "ec", "curve": "p-384"})
    hold.release.set()

    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["status"] == "valid"
    new_key, pending = _keys(stack, account_id)
    assert new_key != old_key and pending is None
    changes = stack.proxy.signed_to(KEY_CHANGE)  # more than one after a badNonce
    assert changes and {c.protected["kid"] for c in changes} == {rolled.json()["account_url"]}
    inner = json.loads(_b64(changes[-1].payload["protected"]))  # type: ignore[index]
    assert inner["url"].endswith(KEY_CHANGE) and "jwk" in inner
    assert "nonce" not in inner and "kid" not in inner
    said = json.loads(_b64(changes[-1].payload["payload"]))  # type: ignore[index]
    assert said["account"] == rolled.json()["account_url"] and said["oldKey"]["crv"] == "P-256"
    # the order placed under the old key completes under the new one
    done = stack.wait_final(created.json()["id"], timeout=90)
    assert done["status"] == "issued", done
    refused = [s.status for s in stack.proxy.requests_to("POST", "/chalZ/") if s.status >= 400]
    assert refused, "the held answer, signed by the old key, should have been refused"
    # and a new request issues under the new key
    assert _issue(stack, "afterroll.example.test")["status"] == "issued"
    audit = query(stack, "SELECT details FROM audit_events "
                         "WHERE action = 'acme_account.key_rolled_over'")
    assert len(audit) == 1 and '"p-384"' in audit[0][0]


def test_a_rollover_whose_answer_was_lost_is_finished_by_the_next(stack: Stack) -> None:
    """The CA switches keys but its answer never arrives (the process could as well have
    died there): the pending key stays sealed in the row; requests meanwhile wait instead
    of failing; the next attempt finds the CA already on the pending key and swaps."""
    assert stack.proxy is not None
    account_id = _account_id(stack)
    old_key, _ = _keys(stack, account_id)
    stack.proxy.faults.append(Fault("POST", KEY_CHANGE, 503, pass_on=True))

    lost = stack.client().post(f"/v1/acme-accounts/{account_id}/key-rollover")
    assert lost.status_code == 503, lost.text
    assert lost.json()["type"] == P + "acme-unavailable"
    key, pending = _keys(stack, account_id)
    assert key == old_key and pending is not None and pending != old_key

    waiting = stack.client().post("/v1/certificate-requests",
                                  json={"common_name": "meanwhile.example.test",
                                        "key_type": "ec"})
    assert waiting.status_code == 202, waiting.text
    _wait_for_retry(stack, waiting.json()["id"])

    again = stack.client().post(f"/v1/acme-accounts/{account_id}/key-rollover")
    assert again.status_code == 200, again.text
    key, left = _keys(stack, account_id)
    assert key == pending and left is None
    # the second attempt's key change was refused (the old key was gone): the CA was asked
    # whether it knows the account by the pending key, and it did
    statuses = [s.status for s in stack.proxy.requests_to("POST", KEY_CHANGE)]
    assert 503 in statuses and statuses[-1] >= 400, statuses
    done = stack.wait_final(waiting.json()["id"], timeout=90)
    assert done["status"] == "issued", done


def _wait_for_retry(stack: Stack, request_id: str) -> None:
    """The request met the CA refusing the old key, and is waiting to try again."""
    client = stack.client()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = client.get(f"/v1/certificate-requests/{request_id}").json()
        assert body["status"] not in {"failed", "issued"}, body
        if body["last_error"] is not None:
            return
        time.sleep(0.05)
    raise AssertionError("the request never met the refused key")


def test_bad_rollover_bodies_are_refused_before_the_ca(stack: Stack) -> None:
    account_id = _account_id(stack)
    before = _keys(stack, account_id)
    assert stack.proxy is not None
    changes = len(stack.proxy.signed_to(KEY_CHANGE))
    client = stack.client()
    for body, slug in (({"key_type": "rsa", "curve": "p-256"}, "invalid-key-spec"),
                       ({"key_type": "rsa", "key_size": 1024}, "validation-error"),
                       ({"curve": "p-521"}, "validation-error"),
                       ({"curve": "p-384"}, "invalid-key-spec")):
        answer = client.post(f"/v1/acme-accounts/{account_id}/key-rollover", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["type"] == P + slug, (body, answer.text)
    missing = client.post("/v1/acme-accounts/00000000-0000-4000-8000-000000000001/key-rollover")
    assert missing.status_code == 404
    assert _keys(stack, account_id) == before
    assert len(stack.proxy.signed_to(KEY_CHANGE)) == changes


def test_rollover_then_issue_on_sqlite(embedded: Stack) -> None:
    """The account key rollover on SQLite (all-in-one); the next request issues."""
    client = embedded.client()
    account = client.get("/v1/acme-accounts").json()["items"][0]
    rolled = client.post(f"/v1/acme-accounts/{account['id']}/key-rollover", json={})
    assert rolled.status_code == 200, rolled.text
    created = client.post("/v1/certificate-requests",
                          json={"common_name": "lite-roll.example.test", "key_type": "ec"})
    assert embedded.wait_final(created.json()["id"])["status"] == "issued"
