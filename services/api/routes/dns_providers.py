from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status
from pydantic import SecretStr

from services.api.deps import DEFAULT_PAGE, Admin, Cursor, Limit, ResourcesDep, SessionDep
from services.api.schemas.common import page_of, problems
from services.api.schemas.dns import (
    DnsProviderCreate,
    DnsProviderPage,
    DnsProviderPublic,
    DnsProviderUpdate,
    ProviderTestReport,
    ProviderTestRequest,
)
from shared.domain import dns_providers
from shared.domain.dns_probe import probe_provider
from shared.domain.dns_providers import ProviderChange, ProviderSpec

router = APIRouter(prefix="/v1/dns-providers", tags=["dns-providers"])


def _plain(credentials: dict[str, SecretStr]) -> dict[str, str]:
    return {name: value.get_secret_value() for name, value in credentials.items()}


@router.post(
    "", operation_id="createDnsProvider", status_code=status.HTTP_201_CREATED,
    responses=problems(400, 409),
)
async def create_dns_provider(
    body: DnsProviderCreate, session: SessionDep, resources: ResourcesDep, actor: Admin
) -> DnsProviderPublic:
    """Add a DNS provider. Its config and credentials are checked against the kind first;
    nothing is stored when they do not fit."""
    spec = ProviderSpec(name=body.name, kind=body.kind, enabled=body.enabled,
                        config=body.config, credentials=_plain(body.credentials))
    provider = await dns_providers.create_provider(
        session, resources.runtime.keyring, spec, actor
    )
    return DnsProviderPublic.model_validate(provider)


@router.get("", operation_id="listDnsProviders", responses=problems())
async def list_dns_providers(
    session: SessionDep, _admin: Admin, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> DnsProviderPage:
    return page_of(DnsProviderPage, await dns_providers.list_providers(session, cursor, limit))


@router.get("/{provider_id}", operation_id="getDnsProvider", responses=problems(404))
async def get_dns_provider(
    provider_id: UUID, session: SessionDep, _admin: Admin
) -> DnsProviderPublic:
    return DnsProviderPublic.model_validate(
        await dns_providers.get_provider(session, provider_id)
    )


@router.patch("/{provider_id}", operation_id="updateDnsProvider", responses=problems(400, 404, 409))
async def update_dns_provider(
    provider_id: UUID, body: DnsProviderUpdate, session: SessionDep, resources: ResourcesDep,
    actor: Admin,
) -> DnsProviderPublic:
    """Change a provider. New credentials or config replace the old ones whole, in one
    write: requests in flight use the old or the new, never a mix."""
    change = ProviderChange(
        name=body.name, enabled=body.enabled, config=body.config,
        credentials=None if body.credentials is None else _plain(body.credentials),
    )
    provider = await dns_providers.update_provider(
        session, resources.runtime.keyring, provider_id, change, actor
    )
    return DnsProviderPublic.model_validate(provider)


@router.delete(
    "/{provider_id}", operation_id="deleteDnsProvider", status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(404, 409),
)
async def delete_dns_provider(provider_id: UUID, session: SessionDep, actor: Admin) -> Response:
    """Refused (409) while mappings or unfinished requests use it."""
    await dns_providers.delete_provider(session, provider_id, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{provider_id}/test", operation_id="testDnsProvider", responses=problems(400, 404))
async def test_dns_provider(
    provider_id: UUID, body: ProviderTestRequest, session: SessionDep, resources: ResourcesDep,
    actor: Admin,
) -> ProviderTestReport:
    """Write a probe TXT record where the domain's dns-01 record would go, wait until every
    server serves it, remove it. A provider fault is ``ok: false`` with its message."""
    runtime = resources.runtime
    report = await probe_provider(
        session, runtime.keyring, runtime.dns, runtime.settings, provider_id, body.domain, actor
    )
    return ProviderTestReport.model_validate(report)
