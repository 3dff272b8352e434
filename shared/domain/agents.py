"""Agents (``/v1/agents``): created by an admin with a one-time enrollment token, which the
agent exchanges once for its own credential (``POST /v1/agent/enroll``). Only SHA-256 hashes
of both are stored. Revoking an agent refuses its credential at once and fails its open tasks.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.domain import audit
from shared.domain.deployments import fail_deployment
from shared.domain.pagination import Page, paginate
from shared.domain.tokens import Principal
from shared.errors import Conflict, NotFound, Unauthenticated, ValidationProblem
from shared.models import Agent, AgentTask, Deployment
from shared.states import AgentTaskStatus

TARGET = "agent"
ENROLLMENT_PREFIX = "cke_"
CREDENTIAL_PREFIX = "cka_"
SECRET_BYTES = 32
_SHAPE = re.compile(r"ck[ea]_[A-Za-z0-9_-]{43}")
ENROLLMENT_LIFETIME = timedelta(hours=24)
# last_seen_at is written at most this often per agent (a long poll every few seconds
# would otherwise write the row each time).
SEEN_RESOLUTION = timedelta(seconds=30)


class AgentUnauthenticated(Unauthenticated):
    slug = "agent-unauthenticated"
    title = "A valid agent credential is required"


class AgentNotFound(ValidationProblem):
    """A mapping or a target names an agent that does not exist or is revoked."""

    slug = "agent-not-found"
    title = "The agent does not exist or is revoked"


class EnrollmentRefused(Unauthenticated):
    slug = "enrollment-refused"
    title = "The enrollment token is unknown, used, expired or revoked"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


async def create_agent(
    session: AsyncSession, *, name: str, actor: Principal, now: datetime
) -> tuple[Agent, str]:
    """A new agent and its enrollment token (returned once, stored as a hash)."""
    if await session.scalar(select(Agent.id).where(Agent.name == name)) is not None:
        raise Conflict(f"an agent named {name!r} exists already")
    token = _new_secret(ENROLLMENT_PREFIX)
    agent = Agent(id=uuid4(), name=name, enrollment_token_hash=_hash(token),
                  enrollment_expires_at=now + ENROLLMENT_LIFETIME)
    session.add(agent)
    audit.record(session, actor, "agent.created", TARGET, agent.id, name=name)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"an agent named {name!r} exists already") from None
    return agent, token


async def enroll(session: AsyncSession, token: str, now: datetime) -> tuple[Agent, str]:
    """Exchange an enrollment token for the agent's credential. The token is spent by a
    conditional update, so two concurrent enrollments with one token cannot both win."""
    if _SHAPE.fullmatch(token) is None or not token.startswith(ENROLLMENT_PREFIX):
        raise EnrollmentRefused("this is not an enrollment token")
    credential = _new_secret(CREDENTIAL_PREFIX)
    agent_id = await session.scalar(
        update(Agent)
        .where(Agent.enrollment_token_hash == _hash(token), Agent.revoked_at.is_(None),
               Agent.enrollment_expires_at > now)
        .values(enrollment_token_hash=None, enrollment_expires_at=None,
                credential_hash=_hash(credential), enrolled_at=now, last_seen_at=now)
        .returning(Agent.id)
    )
    if agent_id is None:
        await session.rollback()
        raise EnrollmentRefused("the enrollment token is unknown, used, expired or revoked")
    await session.commit()
    return await get_agent(session, agent_id), credential


async def authenticate(session: AsyncSession, credential: str, now: datetime) -> Agent:
    """The agent holding ``credential``; its ``last_seen_at`` is brought up to date."""
    if _SHAPE.fullmatch(credential) is None or not credential.startswith(CREDENTIAL_PREFIX):
        raise AgentUnauthenticated("send Authorization: Bearer <agent credential>")
    agent = await session.scalar(select(Agent).where(Agent.credential_hash == _hash(credential)))
    if agent is None or agent.revoked_at is not None:
        raise AgentUnauthenticated("the agent credential is unknown or revoked")
    if agent.last_seen_at is None or now - agent.last_seen_at >= SEEN_RESOLUTION:
        agent.last_seen_at = now
        await session.commit()
    return agent


async def get_agent(session: AsyncSession, agent_id: UUID) -> Agent:
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"no agent {agent_id}")
    return agent


async def list_agents(session: AsyncSession, cursor: str | None, limit: int) -> Page[Agent]:
    return await paginate(session, select(Agent), created_at=Agent.created_at,
                          row_id=Agent.id, cursor=cursor, limit=limit)


async def revoke_agent(
    session: AsyncSession, agent_id: UUID, actor: Principal, now: datetime
) -> None:
    """Refuse the agent's credential and unused enrollment token; fail its open tasks.
    The row stays (mappings and targets may name it); revoking twice is harmless."""
    agent = await get_agent(session, agent_id)
    if agent.revoked_at is None:
        agent.revoked_at = now
        agent.enrollment_token_hash = None
        open_tasks = await session.scalars(select(AgentTask).where(
            AgentTask.agent_id == agent_id,
            AgentTask.status.in_([AgentTaskStatus.PENDING, AgentTaskStatus.CLAIMED])))
        for task in open_tasks:
            task.status, task.finished_at = AgentTaskStatus.FAILED, now
            task.result = {"ok": False, "detail": "the agent was revoked"}
            deployment = (await session.get(Deployment, task.deployment_id)
                          if task.deployment_id else None)
            if deployment is not None:
                await fail_deployment(session, deployment, "the target's agent was revoked")
        audit.record(session, actor, "agent.revoked", TARGET, agent_id, name=agent.name)
    await session.commit()


async def usable_agent(session: AsyncSession, agent_id: UUID) -> Agent:
    """An agent a mapping or target may name: it exists and is not revoked."""
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.revoked_at is not None:
        raise AgentNotFound(f"no agent {agent_id} (or it is revoked)")
    return agent
