"""preferred_chain picks the CA's alternate chain by its root's common name (Pebble offers
one alternate root here), stores it as the default, and keeps the CA's default as alternate 1."""

from __future__ import annotations

from typing import Any

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.e2e.stack import Stack


def _root_common_name(stack: Stack, index: int) -> str:
    with httpx.Client(verify=stack.pebble.ssl_context()) as management:
        pem = management.get(f"{stack.pebble.management_url}/roots/{index}").content
    name = x509.load_pem_x509_certificate(pem).subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value
    return str(name)


def _top_issuer(chain_pem: bytes) -> str:
    top = x509.load_pem_x509_certificates(chain_pem)[-1]
    return str(top.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _issue(stack: Stack, name: str, preferred: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"common_name": name, "key_type": "ec"}
    if preferred is not None:
        body["preferred_chain"] = preferred
    created = stack.client().post("/v1/certificate-requests", json=body)
    assert created.status_code == 202, created.text
    assert created.json()["preferred_chain"] == preferred
    done = stack.wait_final(created.json()["id"])
    assert done["status"] == "issued", done
    return done


def test_preferred_chain_selects_the_alternate_root(prod: Stack) -> None:
    default_root, alternate_root = _root_common_name(prod, 0), _root_common_name(prod, 1)
    assert default_root != alternate_root
    client = prod.client()
    cert_id = _issue(prod, "preferred.example.test", alternate_root)["certificate_id"]
    assert _top_issuer(client.get(f"/v1/certificates/{cert_id}/pem").content) == alternate_root
    alternate = client.get(f"/v1/certificates/{cert_id}/pem", params={"alternate": 1})
    assert _top_issuer(alternate.content) == default_root


def test_an_unknown_preferred_chain_keeps_the_ca_default(prod: Stack) -> None:
    cert_id = _issue(prod, "unpreferred.example.test", "No Such Root")["certificate_id"]
    chain = prod.client().get(f"/v1/certificates/{cert_id}/pem").content
    assert _top_issuer(chain) == _root_common_name(prod, 0)
