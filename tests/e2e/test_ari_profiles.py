"""ACME profiles through the API, and the gateway's ARI (RFC 9773) and ``replaces`` against
Pebble behind the proxy, which plays the parts Pebble 2.4.0 lacks: ``renewalInfo`` and
``meta.profiles`` in the directory, the windows served, every newOrder payload kept."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from shared.acme_ari import ari_certificate_id
from shared.acme_clients import AcmeClients
from shared.acme_gateway import AcmeGateway
from shared.choices import KeyType
from shared.crypto import generate_private_key, make_csr
from shared.errors import AcmeError
from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, embedded_stack
from tests.harness.faults import Fault, FaultProxy, Window

PROFILES = {"classic": "90 days", "shortlived": "6 days"}
NEW_ORDER = "/order-plz"
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(faults=True) as started:
        _proxy(started).advertise_ari(PROFILES)  # before anything reads the directory
        yield with_account(started)


def _key() -> bytes:
    return generate_private_key(KeyType.EC, None, "p-256")


def _proxy(stack: Stack) -> FaultProxy:
    assert stack.proxy is not None
    return stack.proxy



def test_a_profile_the_ca_lists_is_sent_in_new_order(stack: Stack) -> None:
    before = len(_proxy(stack).signed_to(NEW_ORDER))
    done = stack.issue("profile.example.test", profile="shortlived")
    assert done["profile"] == "shortlived"
    orders = _proxy(stack).signed_to(NEW_ORDER)[before:]  # a refused nonce sends it again
    assert orders and all(o.payload and o.payload["profile"] == "shortlived" for o in orders)


def test_a_profile_the_ca_does_not_list_is_refused_before_any_row(stack: Stack) -> None:
    client = stack.client()
    before = client.get("/v1/certificate-requests", params={"limit": 200}).json()["items"]
    orders = len(_proxy(stack).signed_to(NEW_ORDER))
    refused = client.post("/v1/certificate-requests",
                          json={"common_name": "noprofile.example.test", "profile": "tlsserver"})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "urn:certkeeper:problem:invalid-profile"
    assert problem["offered"] == ["classic", "shortlived"]
    after = client.get("/v1/certificate-requests", params={"limit": 200}).json()["items"]
    assert len(after) == len(before) and len(_proxy(stack).signed_to(NEW_ORDER)) == orders


@pytest.fixture
def clients(stack: Stack) -> AcmeClients:
    return AcmeClients(ca_bundle=_proxy(stack).ca_bundle, request_timeout=10,
                       allowed_networks=LOOPBACK)


@pytest.fixture
async def gateway(stack: Stack, clients: AcmeClients) -> AsyncIterator[AcmeGateway]:
    key = _key()
    opened = await clients.open(_proxy(stack).directory_url, key, None)
    await opened.register(contact_email=None, terms_of_service_agreed=True)
    yield opened
    opened.close()


def _leaf(stack: Stack, certificate_id: str) -> bytes:
    chain = stack.client().get(f"/v1/certificates/{certificate_id}/pem").content
    return x509.load_pem_x509_certificates(chain)[0].public_bytes(Encoding.PEM)


async def test_new_order_carries_replaces_and_profile(
    stack: Stack, gateway: AcmeGateway
) -> None:
    old = stack.issue("replaced.example.test")
    leaf = _leaf(stack, old["certificate_id"])
    replaces = ari_certificate_id(x509.load_pem_x509_certificate(leaf))
    key = _key()
    csr = make_csr(key, ["replaced.example.test"])
    before = len(_proxy(stack).signed_to(NEW_ORDER))
    order = await gateway.new_order(csr, profile="classic", replaces=replaces)
    assert order.status == "pending"  # Pebble 2.4.0 ignores both fields it does not know
    sent = _proxy(stack).signed_to(NEW_ORDER)[-1]  # the last try (a nonce may be refused)
    assert len(_proxy(stack).signed_to(NEW_ORDER)) > before and sent.payload is not None
    assert sent.payload["replaces"] == replaces and sent.payload["profile"] == "classic"
    assert sent.payload["identifiers"] == [{"type": "dns", "value": "replaced.example.test"}]


async def test_already_replaced_is_a_final_problem(stack: Stack, gateway: AcmeGateway) -> None:
    key = _key()
    problem = (b'{"type": "urn:ietf:params:acme:error:alreadyReplaced",'
               b' "detail": "already replaced", "status": 409}')
    _proxy(stack).faults.append(_fault_409(problem))
    with pytest.raises(AcmeError) as refused:
        await gateway.new_order(make_csr(key, ["again.example.test"]), replaces="a.b")
    assert refused.value.acme_type == "urn:ietf:params:acme:error:alreadyReplaced"
    assert refused.value.retryable is False


def _fault_409(body: bytes) -> Fault:
    return Fault("POST", NEW_ORDER, 409, body,
                 headers={"Content-Type": "application/problem+json"})


@pytest.mark.parametrize(("retry_after", "expected"),
                         [(5, 60), (3600, 3600), (10**7, 86_400), (None, 21_600)])
async def test_renewal_info_serves_the_window_and_a_clamped_retry_after(
    stack: Stack, clients: AcmeClients, retry_after: int | None, expected: int
) -> None:
    cert = stack.issue(f"ari-{retry_after}.example.test")
    leaf = _leaf(stack, cert["certificate_id"])
    cert_id = ari_certificate_id(x509.load_pem_x509_certificate(leaf))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    _proxy(stack).windows[cert_id] = Window(
        start.isoformat(), (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        retry_after=retry_after, explanation_url="https://ca.example/why",
    )
    window = await clients.renewal_info(_proxy(stack).directory_url, leaf.decode())
    assert window is not None
    assert (window.start, window.end) == (start, start + timedelta(hours=2))
    assert window.retry_after_seconds == expected
    assert window.explanation_url == "https://ca.example/why"
    assert _proxy(stack).requests_to("GET", f"/renewalInfo/{cert_id}")


async def test_revoking_twice_at_the_ca_is_done(stack: Stack, gateway: AcmeGateway) -> None:
    """The CA's alreadyRevoked answer counts as success (here: signed with the cert key)."""
    cert = stack.issue("twice.example.test")
    leaf = _leaf(stack, cert["certificate_id"])
    key = stack.client().get(f"/v1/certificates/{cert['certificate_id']}/private-key").content
    await gateway.revoke_with_certificate_key(leaf, key, 4)
    await gateway.revoke_with_certificate_key(leaf, key, 4)
    serial = format(x509.load_pem_x509_certificate(leaf).serial_number, "x")
    assert stack.pebble.cert_status(serial)["Status"] == "Revoked"
    assert sum(1 for s in _proxy(stack).seen if "/revoke-cert" in s.path) >= 2


async def test_renewal_info_against_a_pebble_that_advertises_it(stack: Stack) -> None:
    """Straight to Pebble, no proxy: runs as soon as the installed Pebble has ARI."""
    if "renewalInfo" not in stack.pebble.directory():
        pytest.skip("the installed Pebble advertises no renewalInfo (2.4.0 has no ARI)")
    clients = AcmeClients(ca_bundle=stack.pebble.ca_bundle, request_timeout=10,
                          allowed_networks=LOOPBACK)
    cert = stack.issue("ari-native.example.test")
    leaf = _leaf(stack, cert["certificate_id"]).decode()
    window = await clients.renewal_info(stack.pebble.directory_url, leaf)
    assert window is not None and window.start < window.end
    assert 60 <= window.retry_after_seconds <= 86_400
