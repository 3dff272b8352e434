"""Low-level DNS plumbing: ``host[:port]`` parsing and one query to one server, async.

The propagation checks (:mod:`shared.dns.propagation`) and the RFC 2136 provider build on
these; nothing here knows about ACME or about zones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype

from shared.errors import Problem

LOOKUP_SECONDS = 5.0
DNS_PORT = 53


class DnsUnavailable(Problem):
    """A DNS lookup failed (timeout, SERVFAIL, no server answered): retry later."""

    slug = "dns-unavailable"
    title = "DNS could not be queried"
    status = 503
    retryable = True


def split_host_port(text: str, default_port: int = DNS_PORT) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` (a bare IPv6 literal is a host
    without a port) -> (host, port). Raises ValueError saying what is wrong."""
    text = text.strip()
    port_text: str | None = None
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: write an IPv6 address as [address] or [address]:port")
        _ip(host, text)
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    if not host:
        raise ValueError(f"{text!r}: the host is empty")
    return host, _port(port_text, default_port, text)


def parse_resolver(text: str) -> tuple[str, int]:
    """A resolver address: an IP literal (IPv6 in brackets when a port follows) and an
    optional port 1-65535. Raises ValueError naming the bad entry."""
    host, port = split_host_port(text)
    _ip(host, text)
    return host, port


def _ip(host: str, text: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: {host!r} is not an IP address") from None


def _port(port_text: str | None, default: int, text: str) -> int:
    if port_text is None:
        return default
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return int(port_text)


def make_resolver(resolvers: Sequence[str]) -> dns.asyncresolver.Resolver:
    """A stub resolver (no cache) over ``resolvers`` (``host[:port]`` IP literals, see
    :func:`parse_resolver`); empty means the system's resolv.conf."""
    if not resolvers:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.exception.DNSException:  # no (usable) /etc/resolv.conf
            raise DnsUnavailable(
                "no DNS resolver: set CERTKEEPER_DNS_RESOLVERS or /etc/resolv.conf"
            ) from None
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(*parse_resolver(item)) for item in resolvers
        ]
    resolver.lifetime = LOOKUP_SECONDS
    return resolver


def resolver_addresses(resolver: dns.asyncresolver.Resolver) -> list[tuple[str, int]]:
    """(address, port) of each plain-DNS server the resolver asks."""
    return [
        (server.address, server.port)
        for server in resolver.nameservers
        if isinstance(server, dns.nameserver.Do53Nameserver)
    ]


async def ask(
    address: str, port: int, name: str, rdtype: str, *, recursive: bool,
    seconds: float = LOOKUP_SECONDS,
) -> dns.message.Message:
    """One query to one server (UDP, TCP when truncated). Raises DNSException or OSError."""
    query = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
    if not recursive:
        query.flags &= ~dns.flags.RD
    response, _ = await dns.asyncquery.udp_with_fallback(query, address, seconds, port)
    return response


def txt_strings(response: dns.message.Message, name: str) -> set[str]:
    """The TXT values the response's answer holds for ``name`` (an absolute name)."""
    owner = dns.name.from_text(name)
    return {
        b"".join(rdata.strings).decode(errors="replace")
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TXT and rrset.name == owner
        for rdata in rrset
    }


def rcode_text(response: dns.message.Message) -> str:
    return dns.rcode.to_text(response.rcode())


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a lookup failure."""
    if isinstance(exc, dns.exception.Timeout):
        return "timed out"
    if isinstance(exc, OSError):
        return f"unreachable ({exc.strerror or type(exc).__name__})"
    return type(exc).__name__

