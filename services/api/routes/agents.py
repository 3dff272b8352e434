"""``/v1/agents`` (admin): create (with a one-time enrollment token), read, revoke."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from services.api.deps import DEFAULT_PAGE, Admin, Cursor, Limit, SessionDep
from services.api.schemas.agents import AgentCreate, AgentCreated, AgentPage, AgentPublic
from services.api.schemas.common import page_of, problems
from shared.domain import agents
from shared.models.base import utcnow

router = APIRouter(prefix="/v1/agents", tags=["agents"])


@router.post("", operation_id="createAgent", status_code=status.HTTP_201_CREATED,
             responses=problems(400, 409))
async def create_agent(body: AgentCreate, session: SessionDep, actor: Admin) -> AgentCreated:
    """The enrollment token is in this answer only."""
    agent, token = await agents.create_agent(session, name=body.name, actor=actor, now=utcnow())
    public = AgentPublic.model_validate(agent)
    return AgentCreated(**public.model_dump(), enrollment_token=token)


@router.get("", operation_id="listAgents", responses=problems())
async def list_agents(
    session: SessionDep, _admin: Admin, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> AgentPage:
    return page_of(AgentPage, await agents.list_agents(session, cursor, limit))


@router.get("/{agent_id}", operation_id="getAgent", responses=problems(404))
async def get_agent(agent_id: UUID, session: SessionDep, _admin: Admin) -> AgentPublic:
    return AgentPublic.model_validate(await agents.get_agent(session, agent_id))


@router.delete("/{agent_id}", operation_id="revokeAgent",
               status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
async def revoke_agent(agent_id: UUID, session: SessionDep, actor: Admin) -> Response:
    """Refuses the agent's credential from now on and fails its open tasks."""
    await agents.revoke_agent(session, agent_id, actor, utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
