"""Propagation checks against real BIND servers: CNAME delegation to another zone, two
authoritative servers of which one never gets the record, the resolvers mode, and lookup
failures that become problems."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.dns.base import DnsProvider
from shared.dns.propagation import (
    DnsNameUnusable,
    Mode,
    Observation,
    Propagated,
    Propagation,
    TimedOut,
    Wait,
)
from shared.dns.registry import build_provider
from shared.dns_lookup import DnsUnavailable
from tests.harness.bind import BindServer, Zone, bind_server
from tests.harness.ports import free_port

ZONE = "example.test."
DELEGATED = "delegated.test."
TIMEOUT = 600.0
ZONES = [
    Zone(ZONE, [
        "_acme-challenge.app CNAME _acme-challenge.app.delegated.test.",
        "_acme-challenge.hop CNAME one.hop",
        "one.hop CNAME _acme-challenge.hop.delegated.test.",
        "_acme-challenge.loop CNAME loop.b",
        "loop.b CNAME _acme-challenge.loop",
    ]),
    Zone(DELEGATED),
]


@pytest.fixture(scope="module")
def synced() -> Iterator[BindServer]:
    with bind_server(ZONES, secondary="synced") as server:
        yield server


@pytest.fixture(scope="module")
def stale() -> Iterator[BindServer]:
    with bind_server(ZONES, secondary="stale") as server:
        yield server


def propagation(bind: BindServer, mode: Mode = "authoritative") -> Propagation:
    return Propagation([bind.server], mode=mode, authoritative_port=bind.port,
                       timeout_seconds=TIMEOUT)


def rfc2136(bind: BindServer) -> DnsProvider:
    return build_provider(
        "rfc2136", {"server": bind.server, "tsig_key_name": bind.global_key.name},
        {"tsig_secret": bind.global_key.secret},
    )


async def check(p: Propagation, fqdn: str, value: str, started_at: datetime) -> object:
    return await p.check(fqdn, value, started_at=started_at, now=datetime.now(UTC),
                         interval_seconds=1.0)


async def test_a_cname_delegates_the_record_to_another_zone(synced: BindServer) -> None:
    p = propagation(synced)
    target = await p.challenge_target("_acme-challenge.app.example.test")
    assert target == "_acme-challenge.app.delegated.test."
    zone = await p.find_zone(target)
    assert zone == DELEGATED
    assert await p.authoritative_servers(zone) == {
        "ns1.delegated.test.": ["127.0.0.1"], "ns2.delegated.test.": ["::1"],
    }
    provider, now = rfc2136(synced), datetime.now(UTC)
    waiting = await check(p, target, "token", now)
    assert isinstance(waiting, Wait)
    assert waiting.lacking == ("ns1.delegated.test. (not served yet)",
                               "ns2.delegated.test. (not served yet)")
    await provider.present(zone, target, "token")
    try:
        assert await check(p, target, "token", now) == Propagated(
            ("ns1.delegated.test.", "ns2.delegated.test.")
        )
        assert synced.txt_values("_acme-challenge.app.example.test.") == set()  # no TXT there
    finally:
        await provider.cleanup(zone, target, "token")


async def test_a_chain_is_followed_and_a_name_without_cname_is_itself(
    synced: BindServer,
) -> None:
    p = propagation(synced)
    assert await p.challenge_target("_acme-challenge.hop.example.test.") == (
        "_acme-challenge.hop.delegated.test."
    )
    plain = await p.challenge_target("_acme-challenge.www.example.test")
    assert plain == "_acme-challenge.www.example.test."
    assert await p.find_zone(plain) == ZONE


async def test_a_cname_loop_is_a_problem(synced: BindServer) -> None:
    with pytest.raises(DnsNameUnusable) as loop:
        await propagation(synced).challenge_target("_acme-challenge.loop.example.test")
    assert "loop" in loop.value.detail


async def test_a_server_that_never_gets_the_record_is_named(stale: BindServer) -> None:
    """ns2 (::1) serves a static copy of the zone: the record written to ns1 never shows
    there. The verdict waits, then times out naming ns2 alone."""
    p, provider = propagation(stale), rfc2136(stale)
    fqdn, now = "_acme-challenge.stale.example.test.", datetime.now(UTC)
    await provider.present(ZONE, fqdn, "token")
    try:
        observed = await p.observe(fqdn)
        assert observed == [
            Observation("ns1.example.test.", frozenset({"token"})),
            Observation("ns2.example.test."),
        ]
        waiting = await check(p, fqdn, "token", now)
        assert isinstance(waiting, Wait)
        assert waiting.lacking == ("ns2.example.test. (not served yet)",)
        late = await check(p, fqdn, "token", now - timedelta(seconds=TIMEOUT + 1))
        assert late == TimedOut(("ns2.example.test. (not served yet)",))
        assert isinstance(late, TimedOut)
        problem = late.problem(fqdn, TIMEOUT).to_dict()
        assert problem["type"] == "urn:certkeeper:problem:dns-propagation-timeout"
        assert problem["servers"] == ["ns2.example.test. (not served yet)"]
        assert "ns1" not in problem["detail"]
        # split horizon: the resolvers mode asks only the configured resolver (ns1)
        resolvers = propagation(stale, mode="resolvers")
        assert await check(resolvers, fqdn, "token", now) == Propagated(
            (f"127.0.0.1:{stale.port}",)
        )
    finally:
        await provider.cleanup(ZONE, fqdn, "token")


async def test_an_authoritative_port_nobody_listens_on_is_named(stale: BindServer) -> None:
    port = free_port(udp=True)
    p = Propagation([stale.server], authoritative_port=port, query_seconds=0.3)
    observed = await p.observe("_acme-challenge.example.test.")
    assert observed == [
        Observation("ns1.example.test.", error=f"127.0.0.1:{port} timed out"),
        Observation("ns2.example.test.", error=f"[::1]:{port} timed out"),
    ]


async def test_lookup_failures_are_problems(stale: BindServer) -> None:
    # BIND refuses names it does not serve (no recursion): every resolver failed
    with pytest.raises(DnsUnavailable) as refused:
        await propagation(stale).find_zone("_acme-challenge.www.example.com")
    assert "example.com" in refused.value.detail
    closed = Propagation([f"127.0.0.1:{free_port(udp=True)}"], query_seconds=0.3)
    with pytest.raises(DnsUnavailable):
        await closed.challenge_target("_acme-challenge.example.test")
