"""Checks on an issued certificate, done the way a relying party would."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from shared.crypto import public_key_matches
from tests.e2e.stack import Stack


def assert_valid_certificate(stack: Stack, certificate_id: str, names: list[str]) -> None:
    """The chain verifies up to Pebble's current root for every name, the exported key
    matches the leaf, and the certificate holds exactly the requested names."""
    client = stack.client()
    info = client.get(f"/v1/certificates/{certificate_id}").json()
    chain_pem = client.get(f"/v1/certificates/{certificate_id}/pem").text
    key = client.get(f"/v1/certificates/{certificate_id}/private-key")
    assert key.status_code == 200, key.text
    leaf, *intermediates = x509.load_pem_x509_certificates(chain_pem.encode())
    root = x509.load_pem_x509_certificate(stack.pebble.root_pem().encode())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(names)
    assert sorted(info["names"]) == sorted(names)
    store = Store([root])
    for name in names:
        host = "any." + name[2:] if name.startswith("*.") else name
        verifier = (
            PolicyBuilder().store(store).time(datetime.now(UTC))
            .build_server_verifier(x509.DNSName(host))
        )
        verifier.verify(leaf, intermediates)
    assert public_key_matches(key.content, chain_pem)
    assert info["serial"] == format(leaf.serial_number, "x")
    assert info["status"] == "active"
