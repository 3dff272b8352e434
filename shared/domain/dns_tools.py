"""What the issuer and the API's self-test need to write a challenge record: where the record
goes (after CNAMEs, in which zone), who still lacks it, and a provider built from settings.

Both are seams: processes use the propagation module and the provider registry; the
issuer's tests put an in-memory DNS in their place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.config import Settings
from shared.dns.base import DnsProvider
from shared.dns.registry import build_provider
from shared.domain.dns_routes import ProviderSettings
from shared.errors import Problem
from shared.names import DNS01_PREFIX


class DnsNotPropagated(Problem):
    """Some servers never served the record in time; ``servers`` names them."""

    slug = "dns-not-propagated"
    title = "The TXT record was not served by every server in time"
    status = 504

    @classmethod
    def after(cls, seconds: float, servers: list[str]) -> DnsNotPropagated:
        return cls(f"after {seconds:.0f}s the record is still not served by "
                   f"{', '.join(servers)}", servers=servers)


@dataclass(frozen=True, slots=True)
class RecordTarget:
    """Where a challenge's TXT record is written: ``fqdn`` after following CNAMEs, in
    ``zone`` (absolute names, trailing dot)."""

    fqdn: str
    zone: str


class ChallengeLookups(Protocol):
    async def target(self, fqdn: str) -> RecordTarget:
        """Follow CNAMEs from ``fqdn`` and find the zone (SOA) that holds the result."""
        ...

    async def missing(self, target: RecordTarget, value: str) -> list[str]:
        """The servers that do not serve ``value`` at ``target`` yet (empty: propagated)."""
        ...


ProviderFactory = Callable[[str, Mapping[str, Any], Mapping[str, Any]], DnsProvider]


@dataclass(frozen=True)
class DnsTools:
    lookups: ChallengeLookups
    build: ProviderFactory = field(default=build_provider)

    def provider(self, settings: ProviderSettings) -> DnsProvider:
        return self.build(settings.kind, settings.config, settings.credentials)

    async def target(self, identifier: str, settings: ProviderSettings) -> RecordTarget:
        """Where the record for ``identifier`` (a name, possibly a wildcard) goes; a zone the
        provider's settings name wins over the one found by SOA."""
        found = await self.lookups.target(challenge_fqdn(identifier))
        zone = settings.zone
        return found if zone is None else RecordTarget(found.fqdn, absolute(zone))


def absolute(name: str) -> str:
    return name.rstrip(".").lower() + "."


def challenge_fqdn(identifier: str) -> str:
    """``_acme-challenge.<name>.`` for a name or the wildcard covering it."""
    return absolute(DNS01_PREFIX + identifier.removeprefix("*."))


class _NoLookups:
    """Stands in until the propagation checks exist: every lookup is a problem."""

    async def target(self, fqdn: str) -> RecordTarget:
        raise DnsNotPropagated("propagation checks are not available in this build")

    async def missing(self, target: RecordTarget, value: str) -> list[str]:
        raise DnsNotPropagated("propagation checks are not available in this build")


def dns_tools(settings: Settings) -> DnsTools:
    """The process's DNS tools, from its settings."""
    return DnsTools(lookups=_NoLookups())
