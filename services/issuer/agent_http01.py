"""HTTP-01 through agents: a name under a domain mapping that names an agent is served by
that agent, every other name by the built-in responder.

Before the CA is told to validate, each such challenge gets an ``http01.present`` task (in
the step's transaction, its id on the challenge row), and the step waits, through the queue,
until the agent reports it serves the token. A failed task, or no report within
:data:`AGENT_ANSWER_TIMEOUT`, fails the request with ``agent-challenge-failed``. Once the
certificate is stored, ``http01.cleanup`` tasks tell the agents to stop serving the tokens
(an agent also drops a token by itself after ``expires_in_seconds``, so a failed request
leaves nothing behind for long).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.issuer.context import Step
from shared.choices import ChallengeType
from shared.domain.agent_tasks import new_task
from shared.domain.dns_routes import candidate_domains, longest_match
from shared.errors import Problem
from shared.models import Agent, AgentTask, Challenge, DomainMapping
from shared.states import AgentTaskKind, AgentTaskStatus, AuthzStatus

AGENT_ANSWER_TIMEOUT = timedelta(minutes=5)
TOKEN_LIFETIME_SECONDS = 3600
FIRST_WAIT_SECONDS = 0.2
MAX_WAIT_SECONDS = 5.0


class AgentChallengeFailed(Problem):
    slug = "agent-challenge-failed"
    title = "The agent serving the HTTP-01 challenge failed or did not answer"
    status = 422


async def agents_for(session: AsyncSession, names: Sequence[str]) -> dict[str, Agent]:
    """The agent of each name whose longest agent mapping names one (others: no entry).
    A revoked agent fails at once: its names would never validate."""
    candidates = {domain for name in names for domain in candidate_domains(name)}
    mappings = {m.domain: m for m in await session.scalars(select(DomainMapping).where(
        DomainMapping.domain.in_(candidates), DomainMapping.agent_id.is_not(None)))}
    found: dict[str, Agent] = {}
    for name in names:
        domain = longest_match(name, mappings)
        agent_id = mappings[domain].agent_id if domain is not None else None
        if agent_id is None:
            continue
        agent = await session.get(Agent, agent_id)
        if agent is None or agent.revoked_at is not None:
            raise AgentChallengeFailed(f"the agent mapped to {name} is revoked or gone",
                                       names=[name])
        found[name] = agent
    return found


def _pending(challenges: Sequence[Challenge]) -> list[Challenge]:
    return [c for c in challenges if c.type is ChallengeType.HTTP_01
            and c.authz_status is AuthzStatus.PENDING and c.answered_at is None]


async def prepare_agent_http01(step: Step) -> float | None:
    """``None`` when every challenge can be validated now; else seconds to wait."""
    rows = _pending(step.request.challenges)
    if not rows:
        return None
    agents = await agents_for(step.session, [row.identifier for row in rows])
    waiting = False
    for row in rows:
        agent = agents.get(row.identifier)
        if agent is not None and not await _served(step, row, agent.id):
            waiting = True
    # End the transaction these reads opened (writing any new task) before the CA is
    # called: none may stay open across network I/O, and on SQLite an open read would
    # hold off every writer, a cancel included. Fenced if the request moved on.
    await step.commit()
    if not waiting:
        return None
    step.request.polls += 1
    return float(min(FIRST_WAIT_SECONDS * 1.5 ** (step.request.polls - 1), MAX_WAIT_SECONDS))


async def _served(step: Step, row: Challenge, agent_id: UUID) -> bool:
    """True once the agent reported it serves the token; writes the task the first time."""
    if row.agent_task_id is None:
        task = new_task(agent_id, AgentTaskKind.HTTP01_PRESENT, {
            "identifier": row.identifier, "token": row.token,
            "key_authorization": row.key_authorization,
            "expires_in_seconds": TOKEN_LIFETIME_SECONDS,
        })
        step.session.add(task)
        row.agent_task_id = task.id
        return False
    found = await step.session.get(AgentTask, row.agent_task_id)
    if found is None or found.status is AgentTaskStatus.FAILED:
        detail = (found.result or {}).get("detail") if found is not None else None
        raise AgentChallengeFailed(
            f"the agent could not serve the challenge for {row.identifier}: {detail}",
            names=[row.identifier])
    if found.status is AgentTaskStatus.SUCCEEDED:
        return True
    if step.now - found.created_at > AGENT_ANSWER_TIMEOUT:
        raise AgentChallengeFailed(
            f"the agent did not serve the challenge for {row.identifier} within "
            f"{int(AGENT_ANSWER_TIMEOUT.total_seconds())} s", names=[row.identifier])
    return False


async def clean_up_agent_tokens(step: Step) -> None:
    """Tell each agent that served a token of this request to stop serving it."""
    for row in step.request.challenges:
        if row.agent_task_id is None or row.token is None:
            continue
        task = await step.session.get(AgentTask, row.agent_task_id)
        if task is not None and task.status is AgentTaskStatus.SUCCEEDED:
            step.session.add(new_task(task.agent_id, AgentTaskKind.HTTP01_CLEANUP,
                                      {"token": row.token}))
