"""Which DNS provider writes the TXT record for a name, and with which settings.

A dns-01 request that names a ``dns_provider_id`` uses it for every name; otherwise each name
takes the provider of its longest matching domain mapping (the mapping's ``domain`` equal to
the name, or a suffix of it at a label boundary). The matching mapping's RFC 2136 overrides
(``zone``, ``tsig_key_name``, ``tsig_secret``) apply when it points at the provider used.
The API resolves at creation (refusing unmapped names and disabled providers before anything
is written); the issuer resolves again before presenting, so a provider disabled meanwhile
fails the request fast, naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.crypto import Keyring
from shared.errors import ValidationProblem
from shared.models import DnsProviderAccount, DomainMapping

TSIG_SECRET = "tsig_secret"  # noqa: S105 - a field name


class DnsProviderNotFound(ValidationProblem):
    slug = "dns-provider-not-found"
    title = "The DNS provider does not exist"


class DnsProviderDisabled(ValidationProblem):
    slug = "dns-provider-disabled"
    title = "The DNS provider is disabled"


@dataclass(frozen=True, slots=True)
class DnsRoute:
    """The provider a name uses, and the mapping whose overrides apply (if any)."""

    provider: DnsProviderAccount
    mapping: DomainMapping | None


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """What builds a provider: its kind and the config and credentials with the mapping's
    overrides merged in. ``zone``: the zone to write in when the settings name one."""

    name: str
    kind: str
    config: dict[str, Any]
    credentials: dict[str, Any]

    @property
    def zone(self) -> str | None:
        zone = self.config.get("zone")
        return zone if isinstance(zone, str) and zone else None


def base_name(name: str) -> str:
    """The name a wildcard covers (``*.a.example`` → ``a.example``)."""
    return name.removeprefix("*.")


def candidate_domains(name: str) -> list[str]:
    """Every mapping domain that could match ``name``, longest first."""
    labels = base_name(name).split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def longest_match(name: str, domains: Iterable[str]) -> str | None:
    """The longest of ``domains`` that is ``name`` or a suffix of it at a label boundary."""
    known = set(domains)
    return next((d for d in candidate_domains(name) if d in known), None)


async def route_names(
    session: AsyncSession, names: Sequence[str], dns_provider_id: UUID | None
) -> dict[str, DnsRoute]:
    """The route of every name, or one problem naming every name that has none (no mapping,
    a missing provider) or whose provider is disabled."""
    mappings = await _mappings_for(session, names)
    provider_ids = {m.dns_provider_id for m in mappings.values() if m.dns_provider_id}
    if dns_provider_id is not None:
        provider_ids = {dns_provider_id}
    providers = {
        p.id: p for p in await session.scalars(
            select(DnsProviderAccount).where(DnsProviderAccount.id.in_(provider_ids)))
    }
    routes: dict[str, DnsRoute] = {}
    unrouted: list[str] = []
    for name in names:
        domain = longest_match(name, mappings)
        mapping = mappings[domain] if domain is not None else None
        wanted = dns_provider_id or (mapping.dns_provider_id if mapping else None)
        provider = providers.get(wanted) if wanted is not None else None
        if provider is None:
            unrouted.append(name)
            continue
        same = mapping is not None and mapping.dns_provider_id == provider.id
        routes[name] = DnsRoute(provider, mapping if same else None)
    _refuse_unusable(routes, unrouted, dns_provider_id)
    return routes


async def mapping_for(
    session: AsyncSession, name: str, provider_id: UUID
) -> DomainMapping | None:
    """The longest mapping of ``name`` when it points at ``provider_id`` (its overrides apply)."""
    mappings = await _mappings_for(session, [name])
    domain = longest_match(name, mappings)
    mapping = mappings[domain] if domain is not None else None
    return mapping if mapping is not None and mapping.dns_provider_id == provider_id else None


async def _mappings_for(session: AsyncSession, names: Sequence[str]) -> dict[str, DomainMapping]:
    candidates = {domain for name in names for domain in candidate_domains(name)}
    rows = await session.scalars(select(DomainMapping).where(
        DomainMapping.domain.in_(candidates), DomainMapping.dns_provider_id.is_not(None)))
    return {row.domain: row for row in rows}


def _refuse_unusable(
    routes: dict[str, DnsRoute], unrouted: list[str], dns_provider_id: UUID | None
) -> None:
    if unrouted:
        if dns_provider_id is not None:
            raise DnsProviderNotFound(f"no DNS provider {dns_provider_id}", names=unrouted)
        raise DnsProviderNotFound(
            f"no domain mapping with a DNS provider covers {', '.join(unrouted)}; add one "
            "(POST /v1/domain-mappings) or set dns_provider_id", names=unrouted,
        )
    disabled: dict[str, list[str]] = {}
    for name, route in routes.items():
        if not route.provider.enabled:
            disabled.setdefault(route.provider.name, []).append(name)
    if disabled:
        raise DnsProviderDisabled(
            "; ".join(f"DNS provider {p!r} is disabled (used by {', '.join(n)})"
                      for p, n in disabled.items()),
            providers=sorted(disabled), names=[n for ns in disabled.values() for n in ns],
        )


def open_credentials(keyring: Keyring, provider: DnsProviderAccount) -> dict[str, Any]:
    opened: dict[str, Any] = json.loads(
        keyring.open(provider.credentials_sealed, provider.seal_context)
    )
    return opened


def seal_credentials(keyring: Keyring, provider: DnsProviderAccount,
                     credentials: dict[str, Any]) -> None:
    provider.credentials_sealed = keyring.seal(
        json.dumps(credentials, sort_keys=True).encode(), provider.seal_context
    )
    provider.credentials_set = sorted(k for k, v in credentials.items() if v is not None)


def provider_settings(keyring: Keyring, route: DnsRoute) -> ProviderSettings:
    """The provider's config and credentials with the mapping's overrides merged in."""
    provider, mapping = route.provider, route.mapping
    config = dict(provider.config)
    credentials = open_credentials(keyring, provider)
    if mapping is not None:
        config.update(mapping_overrides(mapping))
        if mapping.tsig_secret_sealed is not None:
            credentials[TSIG_SECRET] = keyring.open(
                mapping.tsig_secret_sealed, mapping.seal_context
            ).decode()
    return ProviderSettings(provider.name, provider.kind, config, credentials)


def mapping_overrides(mapping: DomainMapping) -> dict[str, str]:
    """The plain (not secret) settings a mapping overrides."""
    pairs = (("zone", mapping.zone), ("tsig_key_name", mapping.tsig_key_name))
    return {key: value for key, value in pairs if value is not None}
