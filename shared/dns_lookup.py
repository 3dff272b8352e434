"""Asynchronous TXT lookups through the configured resolvers (or the system's)."""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from shared.errors import Problem

LOOKUP_SECONDS = 5.0


class DnsUnavailable(Problem):
    slug = "dns-unavailable"
    title = "DNS could not be queried"
    status = 503
    retryable = True


def make_resolver(resolvers: list[str]) -> dns.asyncresolver.Resolver:
    """``resolvers`` are ``host`` or ``host:port``; empty means the system's resolv.conf."""
    if not resolvers:
        return dns.asyncresolver.Resolver()
    resolver = dns.asyncresolver.Resolver(configure=False)
    servers: list[str | dns.nameserver.Nameserver] = []
    for item in resolvers:
        host, _, port = item.rpartition(":") if item.count(":") == 1 else (item, "", "")
        servers.append(dns.nameserver.Do53Nameserver(host, int(port) if port else 53))
    resolver.nameservers = servers
    return resolver


async def txt_values(resolver: dns.asyncresolver.Resolver, name: str) -> set[str]:
    """The TXT strings at ``name``; empty when the name or the record does not exist."""
    try:
        answer = await resolver.resolve(name, "TXT", lifetime=LOOKUP_SECONDS)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return set()
    except dns.exception.DNSException as exc:
        raise DnsUnavailable(f"looking up TXT {name} failed: {type(exc).__name__}") from exc
    return {b"".join(record.strings).decode() for record in answer}
