"""Domain mappings (``/v1/domain-mappings``): a domain and every name under it use one DNS
provider for dns-01 and/or one agent for http-01 (at least one of the two); for RFC 2136 a
mapping may carry its own ``zone``, ``tsig_key_name`` and ``tsig_secret`` (sealed). The
provider's settings with these overrides merged in are checked by the provider kind's models
before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.choices import ChallengeType
from shared.config import Settings
from shared.crypto import Keyring
from shared.domain import audit
from shared.domain.agents import usable_agent
from shared.domain.dns_providers import checked
from shared.domain.dns_routes import (
    TSIG_SECRET,
    DnsProviderNotFound,
    open_credentials,
)
from shared.domain.pagination import Page, paginate
from shared.domain.tokens import Principal
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.models import Challenge, DnsProviderAccount, DomainMapping
from shared.models.dns import ABSOLUTE_NAME_LENGTH
from shared.names import normalize_names

TARGET = "domain_mapping"
OVERRIDABLE_KIND = "rfc2136"


class InvalidMapping(ValidationProblem):
    slug = "invalid-domain-mapping"
    title = "The domain mapping is not valid"


@dataclass(frozen=True, slots=True)
class MappingSpec:
    domain: str
    dns_provider_id: UUID | None
    zone: str | None = None
    tsig_key_name: str | None = None
    tsig_secret: str | None = None
    agent_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class MappingChange:
    """A PATCH: only the fields in ``given`` change (``None`` there clears an override)."""

    values: dict[str, Any] = field(default_factory=dict)


def normalize_domain(domain: str, settings: Settings) -> str:
    """The domain as names in requests are written (A-labels, lower case, no trailing dot),
    by the same rules; wildcards are refused (a mapping covers everything under it)."""
    if domain.lstrip().startswith("*"):
        raise InvalidMapping("a mapping's domain covers every name under it: give it without '*.'")
    return normalize_names(
        domain, [], challenge_type=ChallengeType.DNS_01,
        allowed_private_suffixes=settings.allowed_private_suffixes,
        allow_mixed_scripts=settings.allow_mixed_script_names,
    )[0]


def absolute_zone(zone: str) -> str:
    """``Example.COM`` → ``example.com.``"""
    name = zone.strip().rstrip(".").lower()
    if not name or ".." in name or len(name) + 1 > ABSOLUTE_NAME_LENGTH:
        raise InvalidMapping(f"zone {zone!r} is not a DNS name of at most 253 characters")
    return name + "."


async def _provider(session: AsyncSession, provider_id: UUID) -> DnsProviderAccount:
    provider = await session.get(DnsProviderAccount, provider_id)
    if provider is None:
        raise DnsProviderNotFound(f"no DNS provider {provider_id}")
    return provider


async def _check(
    session: AsyncSession, keyring: Keyring, spec: MappingSpec, sealed_secret: str | None
) -> None:
    """The agent exists; the provider exists and accepts its settings with these overrides
    merged in."""
    if spec.dns_provider_id is None and spec.agent_id is None:
        raise InvalidMapping("give dns_provider_id, agent_id or both")
    if spec.agent_id is not None:
        await usable_agent(session, spec.agent_id)
    secret = spec.tsig_secret if spec.tsig_secret is not None else sealed_secret
    overrides = {k: v for k, v in (("zone", spec.zone), ("tsig_key_name", spec.tsig_key_name))
                 if v is not None}
    if spec.dns_provider_id is None:
        if overrides or secret is not None:
            raise InvalidMapping("zone, tsig_key_name and tsig_secret need a dns_provider_id")
        return
    provider = await _provider(session, spec.dns_provider_id)
    if not overrides and secret is None:
        return
    if provider.kind != OVERRIDABLE_KIND:
        raise InvalidMapping(
            f"zone, tsig_key_name and tsig_secret apply to {OVERRIDABLE_KIND} providers only; "
            f"{provider.name!r} is {provider.kind}"
        )
    credentials = open_credentials(keyring, provider)
    if secret is not None:
        credentials[TSIG_SECRET] = secret
    checked(provider.kind, {**provider.config, **overrides}, credentials)


async def _commit(session: AsyncSession, domain: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a mapping for {domain} exists already") from None


async def _require_unique(session: AsyncSession, domain: str, own_id: UUID | None) -> None:
    found = await session.scalar(select(DomainMapping.id).where(DomainMapping.domain == domain))
    if found is not None and found != own_id:
        raise Conflict(f"a mapping for {domain} exists already")


def _seal_secret(keyring: Keyring, mapping: DomainMapping, secret: str | None) -> None:
    mapping.tsig_secret_sealed = (
        None if secret is None else keyring.seal(secret.encode(), mapping.seal_context)
    )


async def create_mapping(
    session: AsyncSession, keyring: Keyring, settings: Settings, spec: MappingSpec,
    actor: Principal,
) -> DomainMapping:
    spec = replace(spec, domain=normalize_domain(spec.domain, settings),
                   zone=absolute_zone(spec.zone) if spec.zone else None)
    await _check(session, keyring, spec, None)
    await _require_unique(session, spec.domain, None)
    mapping = DomainMapping(
        id=uuid4(), domain=spec.domain, dns_provider_id=spec.dns_provider_id, zone=spec.zone,
        tsig_key_name=spec.tsig_key_name, agent_id=spec.agent_id,
    )
    _seal_secret(keyring, mapping, spec.tsig_secret)
    session.add(mapping)
    audit.record(session, actor, "domain_mapping.created", TARGET, mapping.id,
                 domain=spec.domain, dns_provider_id=str(spec.dns_provider_id),
                 agent_id=str(spec.agent_id))
    await _commit(session, spec.domain)
    return mapping


async def get_mapping(session: AsyncSession, mapping_id: UUID) -> DomainMapping:
    mapping = await session.get(DomainMapping, mapping_id)
    if mapping is None:
        raise NotFound(f"no domain mapping {mapping_id}")
    return mapping


async def list_mappings(session: AsyncSession, cursor: str | None, limit: int
                        ) -> Page[DomainMapping]:
    return await paginate(
        session, select(DomainMapping), created_at=DomainMapping.created_at,
        row_id=DomainMapping.id, cursor=cursor, limit=limit,
    )


async def update_mapping(
    session: AsyncSession, keyring: Keyring, settings: Settings, mapping_id: UUID,
    change: MappingChange, actor: Principal,
) -> DomainMapping:
    mapping = await get_mapping(session, mapping_id)
    given = change.values
    current = MappingSpec(mapping.domain, mapping.dns_provider_id, mapping.zone,
                          mapping.tsig_key_name, agent_id=mapping.agent_id)
    spec = replace(current, **given)
    spec = replace(spec, domain=normalize_domain(spec.domain, settings),
                   zone=absolute_zone(spec.zone) if spec.zone else None)
    kept_secret = None
    if TSIG_SECRET not in given and mapping.tsig_secret_sealed is not None:
        kept_secret = keyring.open(mapping.tsig_secret_sealed, mapping.seal_context).decode()
    await _check(session, keyring, spec, kept_secret)
    await _require_unique(session, spec.domain, mapping.id)
    mapping.domain, mapping.dns_provider_id = spec.domain, spec.dns_provider_id
    mapping.zone, mapping.tsig_key_name = spec.zone, spec.tsig_key_name
    mapping.agent_id = spec.agent_id
    if TSIG_SECRET in given:
        _seal_secret(keyring, mapping, spec.tsig_secret)
    audit.record(session, actor, "domain_mapping.updated", TARGET, mapping.id,
                 domain=mapping.domain, changed=sorted(given))
    await _commit(session, mapping.domain)
    return mapping


async def delete_mapping(session: AsyncSession, mapping_id: UUID, actor: Principal) -> None:
    """Refused (409) while a record written with its settings is not cleaned up yet."""
    mapping = await get_mapping(session, mapping_id)
    uncleaned = int(await session.scalar(select(func.count()).select_from(Challenge).where(
        Challenge.domain_mapping_id == mapping_id, Challenge.record_name.is_not(None),
        Challenge.cleaned_at.is_(None))) or 0)
    if uncleaned:
        raise Conflict(f"{uncleaned} TXT record(s) written with this mapping are not cleaned "
                       "up yet")
    await session.delete(mapping)
    audit.record(session, actor, "domain_mapping.deleted", TARGET, mapping_id,
                 domain=mapping.domain)
    await session.commit()
