"""External account binding against a Pebble that requires it."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator

import pytest

from tests.e2e.stack import Stack, embedded_stack

KID = "kid-certkeeper"
HMAC = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@pytest.fixture(scope="module")
def eab_ca() -> Iterator[Stack]:
    config = {"externalAccountBindingRequired": True, "externalAccountMACKeys": {KID: HMAC}}
    with embedded_stack(pebble_config=config) as stack:
        yield stack


def _accounts(stack: Stack) -> list[object]:
    return list(stack.client().get("/v1/acme-accounts").json()["items"])


def test_registration_without_binding_is_refused(eab_ca: Stack) -> None:
    response = eab_ca.client().post("/v1/acme-accounts", json={"terms_of_service_agreed": True})
    assert response.status_code == 422
    assert response.json()["type"] == "urn:certkeeper:problem:external-account-required"
    assert _accounts(eab_ca) == []


def test_wrong_mac_key_is_refused_by_the_ca(eab_ca: Stack) -> None:
    wrong = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    response = eab_ca.client().post("/v1/acme-accounts", json={
        "terms_of_service_agreed": True, "eab_kid": KID, "eab_hmac_key": wrong,
    })
    assert response.status_code == 422
    assert response.json()["type"] == "urn:certkeeper:problem:acme-error"
    assert _accounts(eab_ca) == []


def test_bound_account_registers_and_issues(eab_ca: Stack) -> None:
    client = eab_ca.client()
    response = client.post("/v1/acme-accounts", json={
        "terms_of_service_agreed": True, "eab_kid": KID, "eab_hmac_key": HMAC,
        "contact_email": "ops@certkeeper.dev",
    })
    assert response.status_code == 201, response.text
    account = response.json()
    assert account["eab_kid"] == KID and "eab_hmac_key" not in account
    assert HMAC not in eab_ca.logs()
    created = client.post("/v1/certificate-requests", json={"common_name": "eab.example.test"})
    assert eab_ca.wait_final(created.json()["id"])["status"] == "issued"
