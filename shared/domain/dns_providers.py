"""DNS providers (``/v1/dns-providers``): the kind, its plain ``config`` and its sealed
``credentials``. Everything is validated by the kind's models before a row is written; a
change to config or credentials replaces the whole object and is validated as a whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel, SecretStr
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.crypto import Keyring
from shared.dns.registry import validated
from shared.domain import audit
from shared.domain.dns_routes import open_credentials, seal_credentials
from shared.domain.pagination import Page, paginate
from shared.domain.tokens import Principal
from shared.errors import Conflict, NotFound
from shared.models import CertificateRequest, Challenge, DnsProviderAccount, DomainMapping
from shared.states import RequestStatus

TARGET = "dns_provider"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    kind: str
    enabled: bool
    config: dict[str, Any]
    credentials: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProviderChange:
    """A PATCH: ``None`` leaves a field as it is; a new ``config`` or ``credentials``
    replaces the old one whole."""

    name: str | None = None
    enabled: bool | None = None
    config: dict[str, Any] | None = None
    credentials: dict[str, Any] | None = None


def _plain(model: BaseModel) -> dict[str, Any]:
    """A validated model as stored: secrets unwrapped (they are sealed), unset values left out."""
    return {
        key: value.get_secret_value() if isinstance(value, SecretStr) else value
        for key, value in model.model_dump(mode="python").items()
        if value is not None
    }


def checked(kind: str, config: dict[str, Any], credentials: dict[str, Any]
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Config and credentials as the kind's models accept them (``invalid-dns-provider``)."""
    checked_config, checked_credentials = validated(kind, config, credentials)
    return (checked_config.model_dump(mode="json", exclude_none=True),
            _plain(checked_credentials))


async def _require_unique_name(session: AsyncSession, name: str, own_id: UUID | None) -> None:
    found = await session.scalar(select(DnsProviderAccount.id).where(
        DnsProviderAccount.name == name))
    if found is not None and found != own_id:
        raise Conflict(f"a DNS provider named {name!r} exists already")


async def _commit(session: AsyncSession, name: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a DNS provider named {name!r} exists already") from None


async def create_provider(
    session: AsyncSession, keyring: Keyring, spec: ProviderSpec, actor: Principal
) -> DnsProviderAccount:
    config, credentials = checked(spec.kind, spec.config, spec.credentials)
    await _require_unique_name(session, spec.name, None)
    provider = DnsProviderAccount(
        id=uuid4(), name=spec.name, kind=spec.kind, enabled=spec.enabled, config=config,
        credentials_sealed=b"", credentials_set=[],
    )
    seal_credentials(keyring, provider, credentials)
    session.add(provider)
    audit.record(session, actor, "dns_provider.created", TARGET, provider.id,
                 name=spec.name, kind=spec.kind)
    await _commit(session, spec.name)
    return provider


async def get_provider(session: AsyncSession, provider_id: UUID) -> DnsProviderAccount:
    provider = await session.get(DnsProviderAccount, provider_id)
    if provider is None:
        raise NotFound(f"no DNS provider {provider_id}")
    return provider


async def list_providers(
    session: AsyncSession, cursor: str | None, limit: int
) -> Page[DnsProviderAccount]:
    return await paginate(
        session, select(DnsProviderAccount), created_at=DnsProviderAccount.created_at,
        row_id=DnsProviderAccount.id, cursor=cursor, limit=limit,
    )


async def update_provider(
    session: AsyncSession, keyring: Keyring, provider_id: UUID, change: ProviderChange,
    actor: Principal,
) -> DnsProviderAccount:
    """Apply a PATCH. The row's version makes a concurrent PATCH lose with a 409."""
    provider = await get_provider(session, provider_id)
    if change.config is not None or change.credentials is not None:
        config, credentials = checked(
            provider.kind,
            provider.config if change.config is None else change.config,
            open_credentials(keyring, provider) if change.credentials is None
            else change.credentials,
        )
        provider.config = config
        seal_credentials(keyring, provider, credentials)
    if change.name is not None:
        await _require_unique_name(session, change.name, provider.id)
        provider.name = change.name
    if change.enabled is not None:
        provider.enabled = change.enabled
    changed = [f for f in ("name", "enabled", "config", "credentials")
               if getattr(change, f) is not None]
    audit.record(session, actor, "dns_provider.updated", TARGET, provider.id,
                 name=provider.name, changed=changed)
    await _commit(session, provider.name)
    return provider


async def delete_provider(session: AsyncSession, provider_id: UUID, actor: Principal) -> None:
    """Refused (409) while a mapping points at it, a request not yet final names it, or a
    record it published is not cleaned up yet."""
    provider = await get_provider(session, provider_id)
    users = await _users(session, provider_id)
    if users:
        raise Conflict(f"DNS provider {provider.name!r} is in use: {'; '.join(users)}")
    await session.delete(provider)
    audit.record(session, actor, "dns_provider.deleted", TARGET, provider_id, name=provider.name)
    await session.commit()


async def _users(session: AsyncSession, provider_id: UUID) -> list[str]:
    counts = {
        "domain mapping(s)": select(func.count()).select_from(DomainMapping).where(
            DomainMapping.dns_provider_id == provider_id),
        "certificate request(s) not final": select(func.count()).select_from(
            CertificateRequest).where(
            CertificateRequest.dns_provider_id == provider_id,
            CertificateRequest.status.in_([s for s in RequestStatus if not s.is_final])),
        "TXT record(s) not cleaned up yet": select(func.count()).select_from(Challenge).where(
            Challenge.dns_provider_id == provider_id, Challenge.record_name.is_not(None),
            Challenge.cleaned_at.is_(None)),
    }
    found = []
    for what, stmt in counts.items():
        count = int(await session.scalar(stmt) or 0)
        if count:
            found.append(f"{count} {what}")
    return found
