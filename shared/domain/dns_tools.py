"""What the issuer and the API's self-test need to write a challenge record: where the record
goes (after CNAMEs, in which zone), what each server serves there, and a provider built from
settings.

Both are seams: processes use :class:`~shared.dns.propagation.Propagation` and the provider
registry; the issuer's tests put an in-memory DNS in their place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.config import Settings
from shared.dns.base import DnsProvider
from shared.dns.propagation import Observation, Propagation, absolute
from shared.dns.registry import build_provider
from shared.domain.dns_routes import ProviderSettings
from shared.names import DNS01_PREFIX


@dataclass(frozen=True, slots=True)
class RecordTarget:
    """Where a challenge's TXT record is written: ``fqdn`` after following CNAMEs, in
    ``zone`` (absolute names, trailing dot)."""

    fqdn: str
    zone: str


class ChallengeLookups(Protocol):
    """The part of :class:`~shared.dns.propagation.Propagation` the issuer uses."""

    async def challenge_target(self, name: str) -> str: ...

    async def find_zone(self, fqdn: str) -> str: ...

    async def observe(self, fqdn: str, zone: str | None = None) -> list[Observation]: ...


ProviderFactory = Callable[[str, Mapping[str, Any], Mapping[str, Any]], DnsProvider]


@dataclass(frozen=True)
class DnsTools:
    lookups: ChallengeLookups
    build: ProviderFactory = field(default=build_provider)

    def provider(self, settings: ProviderSettings) -> DnsProvider:
        return self.build(settings.kind, settings.config, settings.credentials)

    async def target(self, identifier: str, settings: ProviderSettings) -> RecordTarget:
        """Where the record for ``identifier`` (a name, possibly a wildcard) goes: after the
        CNAMEs on its ``_acme-challenge`` name, in the zone the provider's settings name, or
        else the one found by SOA."""
        fqdn = await self.lookups.challenge_target(challenge_fqdn(identifier))
        zone = settings.zone
        return RecordTarget(fqdn, absolute(zone) if zone else await self.lookups.find_zone(fqdn))

    async def observe(self, target: RecordTarget) -> list[Observation]:
        return await self.lookups.observe(target.fqdn, target.zone)


def challenge_fqdn(identifier: str) -> str:
    """``_acme-challenge.<name>.`` for a name or the wildcard covering it."""
    return absolute(DNS01_PREFIX + identifier.removeprefix("*."))


def dns_tools(settings: Settings) -> DnsTools:
    """The process's DNS tools, from its settings."""
    return DnsTools(lookups=Propagation.from_settings(settings))
