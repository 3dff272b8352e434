"""What agents call (``/v1/agent/...``), with their own bearer: the enrollment token for
``enroll``, then the agent credential. The request gate leaves these paths to this module.

``GET /v1/agent/tasks`` is a long poll: it answers at once when the agent has tasks, else
waits (on an event, holding no database session) up to ``wait`` seconds for one to appear.
"""

from __future__ import annotations

import time
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.deps import AgentAuth, AppResources, ResourcesDep, bearer
from services.api.schemas.agents import (
    AgentEnrolled,
    AgentTaskOut,
    AgentTaskPage,
    AgentTaskResult,
)
from services.api.schemas.common import problems
from shared.domain import agents, audit
from shared.domain.agent_tasks import claim_tasks, finish_task
from shared.domain.deployments import apply_deploy_result, deploy_material
from shared.domain.tokens import Principal
from shared.models import Agent, AgentTask, Certificate
from shared.models.base import utcnow
from shared.roles import Role
from shared.states import AgentTaskKind

router = APIRouter(prefix="/v1/agent", tags=["agent"], dependencies=[AgentAuth])

MAX_WAIT_SECONDS = 60.0
DEFAULT_WAIT_SECONDS = 25.0
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _bearer_of(credentials: HTTPAuthorizationCredentials | None) -> str:
    return credentials.credentials.strip() if credentials is not None else ""


async def current_agent(credentials: Credentials, resources: ResourcesDep) -> Agent:
    async with resources.runtime.sessions() as session:
        return await agents.authenticate(session, _bearer_of(credentials), utcnow())


CurrentAgent = Annotated[Agent, Depends(current_agent)]


@router.post("/enroll", operation_id="enrollAgent", status_code=status.HTTP_201_CREATED,
             responses=problems())
async def enroll(credentials: Credentials, resources: ResourcesDep) -> AgentEnrolled:
    """Send the enrollment token as the bearer; the answer holds the agent's credential,
    once. The token is spent."""
    async with resources.runtime.sessions() as session:
        agent, credential = await agents.enroll(session, _bearer_of(credentials), utcnow())
    return AgentEnrolled(agent_id=agent.id, name=agent.name, credential=credential)


@router.get("/tasks", operation_id="pollAgentTasks", responses=problems())
async def poll_tasks(
    agent: CurrentAgent, resources: ResourcesDep, request: Request,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = DEFAULT_WAIT_SECONDS,
) -> AgentTaskPage:
    """The agent's tasks, claimed for it (each is handed out again if no result comes
    within its lease)."""
    deadline = time.monotonic() + wait
    sessions = resources.runtime.sessions
    while True:
        async with sessions() as session:
            tasks = await claim_tasks(session, agent.id, utcnow())
            if tasks:
                items = [await _task_out(session, resources, agent, task) for task in tasks]
                await session.commit()
                return AgentTaskPage(items=items)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or await request.is_disconnected():
            return AgentTaskPage(items=[])
        await resources.agent_waiters.wait(sessions, agent.id, remaining)


async def _task_out(
    session: AsyncSession, resources: AppResources, agent: Agent, task: AgentTask
) -> AgentTaskOut:
    """The task as the agent gets it: a deploy task with its PEM files (an audited read of
    the private key)."""
    payload = dict(task.payload)
    if task.kind is AgentTaskKind.DEPLOY:
        cert = await session.get(Certificate, UUID(str(payload["certificate_id"])))
        if cert is not None:
            payload.update(deploy_material(resources.runtime.keyring, cert))
            reader = Principal(token_id=None, name=f"agent {agent.name}", role=Role.VIEWER)
            audit.record(session, reader, "certificate.private_key_delivered", "certificate",
                         cert.id, agent_id=str(agent.id), task_id=str(task.id))
    return AgentTaskOut(id=task.id, kind=task.kind, payload=payload)


@router.post("/tasks/{task_id}/result", operation_id="reportAgentTaskResult",
             status_code=status.HTTP_204_NO_CONTENT, responses=problems(400, 404, 409))
async def report_result(
    task_id: UUID, body: AgentTaskResult, agent: CurrentAgent, resources: ResourcesDep
) -> None:
    now = utcnow()
    async with resources.runtime.sessions() as session:
        task = await finish_task(session, agent.id, task_id, ok=body.ok,
                                 result=body.model_dump(mode="json"), now=now)
        if task.kind is AgentTaskKind.DEPLOY:
            await apply_deploy_result(session, task, now)
        await session.commit()
