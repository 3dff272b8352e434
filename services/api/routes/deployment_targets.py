"""``/v1/deployment-targets`` (admin, operator): where certificates are deployed, and how
each deployment went."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.deps import (
    DEFAULT_PAGE,
    Cursor,
    Limit,
    Operator,
    ResourcesDep,
    SessionDep,
    Unscoped,
)
from services.api.schemas.agents import (
    DeploymentPublic,
    DeploymentTargetCreate,
    DeploymentTargetPage,
    DeploymentTargetPublic,
    DeploymentTargetUpdate,
)
from services.api.schemas.common import problems
from shared.domain import deployment_targets as targets
from shared.domain.deployment_config import InvalidTarget
from shared.models import DeploymentTarget
from shared.models.base import utcnow

router = APIRouter(prefix="/v1/deployment-targets", tags=["deployment-targets"],
                   dependencies=[Unscoped])


async def _shown(session: AsyncSession, rows: list[DeploymentTarget]
                 ) -> list[DeploymentTargetPublic]:
    deployments = await targets.deployments_of(session, [row.id for row in rows])
    return [
        DeploymentTargetPublic(
            id=row.id, name=row.name, kind=row.kind, config=row.config,
            certificate_id=row.certificate_id, domains=row.domains, secret_set=row.secret_set,
            deployments=[DeploymentPublic.model_validate(d) for d in deployments[row.id]],
            created_at=row.created_at, updated_at=row.updated_at,
        )
        for row in rows
    ]


@router.post("", operation_id="createDeploymentTarget", status_code=status.HTTP_201_CREATED,
             responses=problems(400, 404, 409))
async def create_target(
    body: DeploymentTargetCreate, session: SessionDep, resources: ResourcesDep, actor: Operator
) -> DeploymentTargetPublic:
    """Creating a target deploys the active certificates it covers at once."""
    spec = targets.TargetSpec(
        name=body.name, kind=body.kind, config=body.config, certificate_id=body.certificate_id,
        domains=body.domains,
        secret=body.secret.get_secret_value() if body.secret is not None else None,
    )
    runtime = resources.runtime
    target = await targets.create_target(session, runtime.keyring, runtime.settings, spec,
                                         actor, utcnow())
    return (await _shown(session, [target]))[0]


@router.get("", operation_id="listDeploymentTargets", responses=problems())
async def list_targets(
    session: SessionDep, _operator: Operator, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> DeploymentTargetPage:
    page = await targets.list_targets(session, cursor, limit)
    return DeploymentTargetPage(items=await _shown(session, list(page.items)),
                                          next_cursor=page.next_cursor)


@router.get("/{target_id}", operation_id="getDeploymentTarget", responses=problems(404))
async def get_target(target_id: UUID, session: SessionDep, _operator: Operator
                     ) -> DeploymentTargetPublic:
    return (await _shown(session, [await targets.get_target(session, target_id)]))[0]


@router.patch("/{target_id}", operation_id="updateDeploymentTarget",
              responses=problems(400, 404, 409))
async def update_target(
    target_id: UUID, body: DeploymentTargetUpdate, session: SessionDep,
    resources: ResourcesDep, actor: Operator,
) -> DeploymentTargetPublic:
    """``name``, ``config`` and ``secret`` change; the kind and what the target covers do
    not."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if any(value is None for value in changes.values()):
        raise InvalidTarget("name, config and secret cannot be cleared")
    if "secret" in changes:
        changes["secret"] = changes["secret"].get_secret_value()
    target = await targets.update_target(session, resources.runtime.keyring, target_id,
                                         changes, actor)
    return (await _shown(session, [target]))[0]


@router.delete("/{target_id}", operation_id="deleteDeploymentTarget",
               status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
async def delete_target(target_id: UUID, session: SessionDep, actor: Operator) -> Response:
    await targets.delete_target(session, target_id, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
