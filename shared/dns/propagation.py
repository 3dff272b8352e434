"""Where a DNS-01 record goes and when every server that matters serves it (lego's
``dns_challenge_precheck.go``, cert-manager's ``checkAuthoritativeNss``), async throughout.

1. :meth:`Propagation.challenge_target` follows a CNAME chain on ``_acme-challenge.<name>``
   (bounded, loop-safe) to the name where the record must be written;
2. :meth:`Propagation.find_zone` finds that name's zone by SOA through the resolvers;
3. :meth:`Propagation.observe` asks each authoritative nameserver of the zone directly
   (mode ``authoritative``) or each configured resolver (mode ``resolvers``, for
   split-horizon networks) for the TXT values at the target;
4. :func:`verdict` (pure) turns the observations into :class:`Propagated`, :class:`Wait`
   (reschedule, never sleep) or :class:`TimedOut` (naming the servers still lacking it).

Lookup failures become problems (:class:`~shared.dns_lookup.DnsUnavailable`, retry later;
:class:`DnsNameUnusable`, fix the DNS); nothing dnspython raises escapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.rcode
import dns.rdata
import dns.resolver
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

from shared.config import Settings
from shared.dns_lookup import (
    DNS_PORT,
    LOOKUP_SECONDS,
    DnsUnavailable,
    ask,
    describe,
    make_resolver,
    resolver_addresses,
    txt_strings,
)
from shared.errors import Problem

Mode = Literal["authoritative", "resolvers"]
MAX_CNAME_DEPTH = 8
MAX_WAIT_SECONDS = 30.0  # the longest pause between two checks
_ABSENT = (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer)


class DnsNameUnusable(Problem):
    """The challenge name leads nowhere: a CNAME loop, a chain too long, or no zone."""

    slug = "dns-name-unusable"
    title = "The DNS-01 record name cannot be placed in a zone"
    status = 422


class PropagationTimedOut(Problem):
    slug = "dns-propagation-timeout"
    title = "The TXT record was not served by every DNS server in time"
    status = 504


@dataclass(frozen=True, slots=True)
class Observation:
    """What one server (an NS name, or a resolver ``address:port``) serves at the name.
    ``error`` says why it gave no usable answer (timed out, SERVFAIL, not authoritative)."""

    server: str
    values: frozenset[str] = frozenset()
    error: str | None = None

    def describe(self) -> str:
        return f"{self.server} ({self.error or 'not served yet'})"


@dataclass(frozen=True, slots=True)
class Propagated:
    servers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float
    lacking: tuple[str, ...]  # "ns2.example.test. (not served yet)"


@dataclass(frozen=True, slots=True)
class TimedOut:
    lacking: tuple[str, ...]

    def problem(self, fqdn: str, timeout_seconds: float) -> PropagationTimedOut:
        return PropagationTimedOut(
            f"TXT {fqdn} was not served within {timeout_seconds:.0f} s by: "
            + ", ".join(self.lacking),
            servers=list(self.lacking),
        )


Verdict = Propagated | Wait | TimedOut


def verdict(
    observations: Sequence[Observation], expected: str, *, started_at: datetime,
    now: datetime, timeout_seconds: float, interval_seconds: float,
) -> Verdict:
    """Propagated once every server serves ``expected``; else wait (short at first, a
    quarter of the time spent so far later, at most MAX_WAIT_SECONDS, never past the
    deadline); TimedOut once ``timeout_seconds`` have passed since ``started_at``."""
    lacking = lacking_servers(observations, expected)
    if not lacking:
        return Propagated(tuple(o.server for o in observations))
    elapsed = (now - started_at).total_seconds()
    remaining = timeout_seconds - elapsed
    if remaining <= 0:
        return TimedOut(lacking)
    wait = min(max(interval_seconds, elapsed / 4), MAX_WAIT_SECONDS, remaining)
    return Wait(wait, lacking)


def lacking_servers(observations: Sequence[Observation], expected: str) -> tuple[str, ...]:
    """Each server that does not serve ``expected``, with why; empty when all do (and
    there is at least one)."""
    if not observations:
        return ("(no server to ask)",)
    return tuple(o.describe() for o in observations if expected not in o.values)


def absolute(name: str) -> str:
    """``name`` lower-case with one trailing dot."""
    return name.strip().rstrip(".").lower() + "."


class Propagation:
    """Lookups through ``resolvers`` (``host[:port]`` IP literals; empty: the system's);
    authoritative servers are asked at ``authoritative_port``. ``query_seconds`` bounds
    each lookup; ``timeout_seconds`` is the time a record gets to be served everywhere."""

    def __init__(
        self, resolvers: Sequence[str] = (), *, mode: Mode = "authoritative",
        authoritative_port: int = DNS_PORT, timeout_seconds: float = 600.0,
        query_seconds: float = LOOKUP_SECONDS,
    ) -> None:
        self.mode: Mode = mode
        self.authoritative_port = authoritative_port
        self.timeout_seconds = timeout_seconds
        self.query_seconds = query_seconds
        self._resolvers = tuple(resolvers)

    @cached_property
    def _resolver(self) -> dns.asyncresolver.Resolver:
        """Built on first use: the system's configuration is read only when needed."""
        resolver = make_resolver(self._resolvers)
        resolver.lifetime = self.query_seconds
        return resolver

    @classmethod
    def from_settings(cls, settings: Settings) -> Propagation:
        return cls(
            settings.dns_resolvers, mode=settings.dns_propagation,
            authoritative_port=settings.dns_authoritative_port,
            timeout_seconds=settings.dns_propagation_timeout_seconds,
        )

    async def challenge_target(self, name: str) -> str:
        """Follow CNAMEs from ``name`` (e.g. ``_acme-challenge.app.example.test``) to the
        name where the TXT record must be written (``name`` itself when there is none)."""
        current, seen = absolute(name), [absolute(name)]
        for _ in range(MAX_CNAME_DEPTH):
            target = await self._cname(current)
            if target is None:
                return current
            if target in seen:
                raise DnsNameUnusable(f"CNAME loop: {' -> '.join([*seen, target])}")
            seen.append(target)
            current = target
        raise DnsNameUnusable(
            f"CNAME chain from {seen[0]} is longer than {MAX_CNAME_DEPTH}: {' -> '.join(seen)}"
        )

    async def _cname(self, name: str) -> str | None:
        try:
            answer = await self._resolver.resolve(name, "CNAME")
        except _ABSENT:
            return None
        except dns.exception.DNSException as exc:
            raise _unavailable(f"CNAME {name}", exc) from None
        return absolute(answer[0].target.to_text())

    async def find_zone(self, fqdn: str) -> str:
        """The zone holding ``fqdn``, by SOA (walking up the labels)."""
        try:
            zone = await dns.asyncresolver.zone_for_name(
                absolute(fqdn), resolver=self._resolver, lifetime=self._resolver.lifetime
            )
        except dns.resolver.NoRootSOA:
            raise DnsNameUnusable(f"no zone (SOA) found for {absolute(fqdn)}") from None
        except dns.exception.DNSException as exc:
            raise _unavailable(f"the zone of {absolute(fqdn)}", exc) from None
        return absolute(zone.to_text())

    async def authoritative_servers(self, zone: str) -> dict[str, list[str]]:
        """The zone's NS names, each with its addresses (A and AAAA) via the resolvers."""
        names = sorted(
            absolute(r.target.to_text())
            for r in await self._records(zone, "NS") if isinstance(r, NS)
        )
        if not names:
            raise DnsUnavailable(f"the zone {absolute(zone)} has no NS records")
        found = await asyncio.gather(*(self._addresses(name) for name in names))
        servers = {name: addresses for name, addresses in zip(names, found, strict=True)}
        if not any(servers.values()):
            raise DnsUnavailable(f"no address found for the nameservers {', '.join(names)}")
        return servers

    async def _addresses(self, host: str) -> list[str]:
        v4, v6 = await asyncio.gather(self._records(host, "A"), self._records(host, "AAAA"))
        return [r.address for r in (*v4, *v6) if isinstance(r, A | AAAA)]

    async def _records(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        try:
            return list(await self._resolver.resolve(name, rdtype))
        except _ABSENT:
            return []
        except dns.exception.DNSException as exc:
            raise _unavailable(f"{rdtype} {name}", exc) from None

    async def observe(self, fqdn: str, zone: str | None = None) -> list[Observation]:
        """What each server serves at ``fqdn`` (the CNAME target): every authoritative
        nameserver of ``zone`` (found by SOA when not given), or every resolver."""
        fqdn = absolute(fqdn)
        if self.mode == "resolvers":
            pairs = resolver_addresses(self._resolver)
            return list(await asyncio.gather(*(
                _ask_server(_hostport(a, p), [a], p, fqdn, self.query_seconds, recursive=True)
                for a, p in pairs
            )))
        servers = await self.authoritative_servers(zone or await self.find_zone(fqdn))
        return list(await asyncio.gather(*(
            _ask_server(name, addresses, self.authoritative_port, fqdn, self.query_seconds,
                        recursive=False)
            for name, addresses in servers.items()
        )))

    async def lacking(self, name: str, expected: str) -> tuple[str, ...]:
        """The servers that do not serve ``expected`` at ``name`` (after its CNAMEs) yet;
        empty once every one does. For the manual ``verify`` pre-check."""
        observations = await self.observe(await self.challenge_target(name))
        return lacking_servers(observations, expected)

    async def check(
        self, fqdn: str, expected: str, *, zone: str | None = None, started_at: datetime,
        now: datetime, interval_seconds: float,
    ) -> Verdict:
        """:meth:`observe` then :func:`verdict` with this instance's timeout."""
        return verdict(
            await self.observe(fqdn, zone), expected, started_at=started_at, now=now,
            timeout_seconds=self.timeout_seconds, interval_seconds=interval_seconds,
        )


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def _ask_server(
    server: str, addresses: Sequence[str], port: int, fqdn: str, seconds: float, *,
    recursive: bool,
) -> Observation:
    """One server's view: every address that answers must serve the value; an address
    that gives no answer is ignored when another address of the same server answered (a
    worker without IPv6 still checks a nameserver that has both A and AAAA)."""
    if not addresses:
        return Observation(server, error="no address")
    seen = await asyncio.gather(
        *(_ask_address(a, port, fqdn, seconds, recursive) for a in addresses)
    )
    answered = [values for values, _ in seen if values is not None]
    if not answered:
        return Observation(server, error="; ".join(error or "" for _, error in seen))
    return Observation(server, frozenset.intersection(*answered))


async def _ask_address(
    address: str, port: int, fqdn: str, seconds: float, recursive: bool
) -> tuple[frozenset[str] | None, str | None]:
    where = _hostport(address, port)
    try:
        response = await ask(address, port, fqdn, "TXT", recursive=recursive, seconds=seconds)
    except (dns.exception.DNSException, OSError) as exc:
        return None, f"{where} {describe(exc)}"
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return None, f"{where} answered {dns.rcode.to_text(rcode)}"
    if not recursive and not response.flags & dns.flags.AA:
        return None, f"{where} is not authoritative for {fqdn}"
    return frozenset(txt_strings(response, fqdn)), None


def _unavailable(what: str, exc: dns.exception.DNSException) -> DnsUnavailable:
    return DnsUnavailable(f"looking up {what} failed: {describe(exc)}")
