from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from services.api.deps import DEFAULT_PAGE, Admin, Cursor, Limit, ResourcesDep, SessionDep
from services.api.schemas.common import page_of, problems
from services.api.schemas.dns import (
    DomainMappingCreate,
    DomainMappingPage,
    DomainMappingPublic,
    DomainMappingUpdate,
)
from shared.domain import domain_mappings
from shared.domain.domain_mappings import InvalidMapping, MappingChange, MappingSpec

router = APIRouter(prefix="/v1/domain-mappings", tags=["domain-mappings"])


@router.post(
    "", operation_id="createDomainMapping", status_code=status.HTTP_201_CREATED,
    responses=problems(400, 409),
)
async def create_domain_mapping(
    body: DomainMappingCreate, session: SessionDep, resources: ResourcesDep, actor: Admin
) -> DomainMappingPublic:
    spec = MappingSpec(
        domain=body.domain, dns_provider_id=body.dns_provider_id, agent_id=body.agent_id,
        zone=body.zone,
        tsig_key_name=body.tsig_key_name,
        tsig_secret=body.tsig_secret.get_secret_value() if body.tsig_secret else None,
    )
    runtime = resources.runtime
    mapping = await domain_mappings.create_mapping(
        session, runtime.keyring, runtime.settings, spec, actor
    )
    return DomainMappingPublic.model_validate(mapping)


@router.get("", operation_id="listDomainMappings", responses=problems())
async def list_domain_mappings(
    session: SessionDep, _admin: Admin, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> DomainMappingPage:
    page = await domain_mappings.list_mappings(session, cursor, limit)
    return page_of(DomainMappingPage, page)


@router.get("/{mapping_id}", operation_id="getDomainMapping", responses=problems(404))
async def get_domain_mapping(
    mapping_id: UUID, session: SessionDep, _admin: Admin
) -> DomainMappingPublic:
    return DomainMappingPublic.model_validate(
        await domain_mappings.get_mapping(session, mapping_id)
    )


@router.patch(
    "/{mapping_id}", operation_id="updateDomainMapping", responses=problems(400, 404, 409)
)
async def update_domain_mapping(
    mapping_id: UUID, body: DomainMappingUpdate, session: SessionDep, resources: ResourcesDep,
    actor: Admin,
) -> DomainMappingPublic:
    """Fields left out stay; ``null`` clears ``zone``, ``tsig_key_name``, ``tsig_secret``,
    ``dns_provider_id`` or ``agent_id`` (one of the last two must remain)."""
    given = {name: getattr(body, name) for name in body.model_fields_set}
    if "domain" in given and given["domain"] is None:
        raise InvalidMapping("domain cannot be cleared")
    if given.get("tsig_secret") is not None:
        given["tsig_secret"] = given["tsig_secret"].get_secret_value()
    runtime = resources.runtime
    mapping = await domain_mappings.update_mapping(
        session, runtime.keyring, runtime.settings, mapping_id, MappingChange(given), actor
    )
    return DomainMappingPublic.model_validate(mapping)


@router.delete(
    "/{mapping_id}", operation_id="deleteDomainMapping", status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(404, 409),
)
async def delete_domain_mapping(mapping_id: UUID, session: SessionDep, actor: Admin) -> Response:
    await domain_mappings.delete_mapping(session, mapping_id, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
