"""An account's ACME conversation is kept for its next job, and never handed on while a
thread may still be sending on it (a job cancelled mid-call); what it sends is what acme
would send."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Iterator

from shared.acme_clients import AcmeClients
from shared.choices import KeyType
from shared.crypto import generate_private_key, make_csr
from tests.harness.faults import FaultProxy, Hold, fault_proxy
from tests.harness.pebble import challtestsrv, pebble_server
from tests.harness.ports import free_port

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@contextlib.contextmanager
def pebble_behind_proxy() -> Iterator[tuple[FaultProxy, AcmeClients]]:
    """Pebble behind the fault proxy, and the clients that reach it there."""
    with (
        challtestsrv() as dns,
        pebble_server(http_port=free_port(), dns_server=dns.dns_server) as pebble,
        fault_proxy(pebble) as proxy,
    ):
        yield proxy, AcmeClients(ca_bundle=proxy.ca_bundle, request_timeout=10,
                                 allowed_networks=LOOPBACK)


async def test_a_conversation_cancelled_mid_call_is_not_reused() -> None:
    with pebble_behind_proxy() as (proxy, clients):
        key = generate_private_key(KeyType.EC, None, "p-256")
        registering = await clients.open(proxy.directory_url, key, None)
        account_url = await registering.register(contact_email=None,
                                                 terms_of_service_agreed=True)
        registering.close()
        kept = await clients.open(proxy.directory_url, key, account_url)
        assert kept is registering  # kept under the account it registered

        hold = Hold("POST", "order-plz")
        proxy.holds.append(hold)
        csr = make_csr(generate_private_key(KeyType.EC, None, "p-256"), ["pool.example.test"])
        ordering = asyncio.create_task(kept.new_order(csr))
        assert await asyncio.to_thread(hold.held.wait, 10), "the order never reached the CA"
        ordering.cancel()
        await asyncio.gather(ordering, return_exceptions=True)
        kept.close()  # the job's finally: its thread is still waiting for the CA
        try:
            fresh = await clients.open(proxy.directory_url, key, account_url)
            assert fresh is not kept
            fresh.close()
        finally:
            hold.release.set()
            clients.close()


async def test_every_request_says_who_sends_it_and_what_it_carries() -> None:
    """Requests are sent and signed the way certbot's ``acme`` would (its own sending and
    signing are bypassed for speed): Certkeeper's User-Agent on every one, the JOSE type on
    POSTs, the account's key in newAccount's protected header and its URL in every later
    one, and the CA's answers read (an account registered, an order placed on it)."""
    with pebble_behind_proxy() as (proxy, clients):
        try:
            key = generate_private_key(KeyType.EC, None, "p-256")
            gateway = await clients.open(proxy.directory_url, key, None)
            account_url = await gateway.register(contact_email=None,
                                                 terms_of_service_agreed=True)
            csr = make_csr(generate_private_key(KeyType.EC, None, "p-256"),
                           ["agent.example.test"])
            order = await gateway.new_order(csr)
            gateway.close()
        finally:
            clients.close()
    assert account_url.startswith(proxy.base_url) and order.url.startswith(proxy.base_url)
    assert [a.status for a in order.authorizations] == ["pending"]
    methods = {seen.method for seen in proxy.seen}
    assert methods == {"GET", "HEAD", "POST"}
    for seen in proxy.seen:
        assert seen.headers["User-Agent"].startswith("certkeeper/"), seen
        if seen.method == "POST":
            assert seen.headers["Content-Type"] == "application/jose+json", seen
    registered, *later = proxy.signed
    assert registered.payload == {"termsOfServiceAgreed": True}
    assert registered.protected["jwk"]["crv"] == "P-256" and "kid" not in registered.protected
    assert [s.path for s in later][:1] == ["/order-plz"]
    for signed in [registered, *later]:
        assert signed.protected["alg"] == "ES256" and signed.protected["nonce"], signed
        assert signed.protected["url"] == proxy.base_url + signed.path, signed
    for signed in later:
        assert signed.protected["kid"] == account_url and "jwk" not in signed.protected
