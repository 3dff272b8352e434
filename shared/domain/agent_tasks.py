"""Tasks for agents: written by the issuer (serve a challenge, deploy a certificate), handed
to the agent by the API's long poll (``GET /v1/agent/tasks``), finished by the agent's report
(``POST /v1/agent/tasks/{id}/result``).

A task is claimed with a lease; one whose agent went away is handed out again once the lease
runs out, so every task kind must be idempotent on the agent (they are: serving a token,
removing it, writing files by rename). Claiming is one conditional update per task, so two
polls of one agent never both get a task.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import Conflict, NotFound
from shared.models import AgentTask
from shared.states import AgentTaskKind, AgentTaskStatus

TASK_LEASE = timedelta(seconds=120)
MAX_TASKS_PER_POLL = 10
MAX_OUTPUT_CHARS = 4000


def new_task(
    agent_id: UUID, kind: AgentTaskKind, payload: dict[str, Any], *,
    deployment_id: UUID | None = None, not_before: datetime | None = None,
) -> AgentTask:
    return AgentTask(id=uuid4(), agent_id=agent_id, kind=kind, payload=payload,
                     status=AgentTaskStatus.PENDING, not_before=not_before, claims=0,
                     deployment_id=deployment_id)


def _claimable(now: datetime) -> ColumnElement[bool]:
    waiting = and_(AgentTask.status == AgentTaskStatus.PENDING,
                   or_(AgentTask.not_before.is_(None), AgentTask.not_before <= now))
    abandoned = and_(AgentTask.status == AgentTaskStatus.CLAIMED, AgentTask.lease_until < now)
    return or_(waiting, abandoned)


async def agents_with_work(
    session: AsyncSession, agent_ids: Collection[UUID], now: datetime
) -> set[UUID]:
    """Which of ``agent_ids`` have a task to hand out now: one query for all of them."""
    if not agent_ids:
        return set()
    rows = await session.scalars(
        select(AgentTask.agent_id).distinct()
        .where(AgentTask.agent_id.in_(list(agent_ids)), _claimable(now))
    )
    return set(rows)


async def claim_tasks(session: AsyncSession, agent_id: UUID, now: datetime) -> list[AgentTask]:
    """Claim up to :data:`MAX_TASKS_PER_POLL` of the agent's tasks, oldest first."""
    candidates = list(await session.scalars(
        select(AgentTask.id)
        .where(AgentTask.agent_id == agent_id, _claimable(now))
        .order_by(AgentTask.created_at)
        .limit(MAX_TASKS_PER_POLL)
    ))
    claimed: list[UUID] = []
    for task_id in candidates:
        won = await session.execute(
            update(AgentTask)
            .where(AgentTask.id == task_id, _claimable(now))
            .values(status=AgentTaskStatus.CLAIMED, lease_until=now + TASK_LEASE,
                    claims=AgentTask.claims + 1)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(task_id)
    await session.commit()
    if not claimed:
        return []
    rows = await session.scalars(
        select(AgentTask).where(AgentTask.id.in_(claimed))
        .order_by(AgentTask.created_at).execution_options(populate_existing=True)
    )
    return list(rows)


async def finish_task(
    session: AsyncSession, agent_id: UUID, task_id: UUID, *, ok: bool,
    result: dict[str, Any], now: datetime,
) -> AgentTask:
    """Record the agent's report on its task (not committed: the caller applies what the
    result means in the same transaction). A second report of a finished task is a 409."""
    task = await session.get(AgentTask, task_id, with_for_update=True)
    if task is None or task.agent_id != agent_id:
        raise NotFound(f"no task {task_id} for this agent")
    if task.status.is_final:
        raise Conflict(f"task {task_id} is {task.status} already")
    task.status = AgentTaskStatus.SUCCEEDED if ok else AgentTaskStatus.FAILED
    task.result = result
    task.finished_at = now
    task.lease_until = None
    return task
