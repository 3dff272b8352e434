"""Deployments: one certificate at one target. Issuance and renewal call
:func:`plan_deployments` in the transaction that stores the certificate, so a certificate is
never stored without its deployments being due. For an ``agent`` target the deployment is a
``deploy`` task for the agent; its report (:func:`apply_deploy_result`) sets the status.

Deployment events (``deployment.failed``, ``deployment.unconfirmed``) are written by
:func:`record_event`, in the transaction that changes the deployment: the one place the
notifier hooks into.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from cryptography.hazmat.primitives import serialization
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.crypto import Keyring, split_pem_chain
from shared.domain import audit, outbox
from shared.domain.agent_tasks import new_task
from shared.domain.deployment_outcomes import (
    FAILED_EVENT,
    covers,
    deploy_verdict,
    deployment_problem,
    retry_delay,
)
from shared.domain.tokens import Principal
from shared.models import Agent, AgentTask, Certificate, Deployment, DeploymentTarget
from shared.models.notifications import EventType
from shared.roles import Role
from shared.states import AgentTaskKind, DeploymentKind, DeploymentStatus

logger = logging.getLogger(__name__)

SYSTEM = Principal(token_id=None, name="certkeeper", role=Role.ADMIN)
TARGET = "deployment"


async def record_event(session: AsyncSession, deployment: Deployment, event: str,
                       **details: Any) -> None:
    """A deployment event (``deployment.failed``, ``deployment.unconfirmed``), written with
    the change that caused it: to the notifier's outbox, so people hear of it, and to the
    audit trail."""
    audit.record(session, SYSTEM, event, TARGET, deployment.id,
                 certificate_id=str(deployment.certificate_id),
                 deployment_target_id=str(deployment.target_id), **details)
    cert = await session.get(Certificate, deployment.certificate_id)
    outbox.emit(session, EventType(event), certificate=cert, deployment_id=str(deployment.id),
                deployment_target_id=str(deployment.target_id), problem=details.get("error"),
                **details)
    logger.warning(event, extra={"deployment_id": str(deployment.id),
                                 "certificate_id": str(deployment.certificate_id)})


async def plan_deployments(session: AsyncSession, cert: Certificate, now: datetime) -> int:
    """Deploy a newly stored certificate to every target that covers it. Returns the count.

    The certificate may still be unwritten (the caller's commit writes it with the rest):
    it is written here only if a target covers it, since no relationship tells the unit of
    work to insert a certificate before its deployments."""
    with session.no_autoflush:
        targets = [target for target in await session.scalars(select(DeploymentTarget).where(
            or_(DeploymentTarget.lineage_id == cert.lineage_id,
                DeploymentTarget.lineage_id.is_(None))))
            if target.lineage_id is not None or covers(target.domains, cert.names)]
    if targets:
        await session.flush()
    for target in targets:
        await deploy_certificate(session, target, cert, now)
    return len(targets)


async def deploy_certificate(session: AsyncSession, target: DeploymentTarget,
                             cert: Certificate, now: datetime) -> Deployment:
    """A pending deployment of ``cert`` to ``target`` and the work that delivers it."""
    deployment = Deployment(id=uuid4(), target_id=target.id, certificate_id=cert.id,
                            status=DeploymentStatus.PENDING, attempts=0)
    session.add(deployment)
    await _deliver(session, target, cert, deployment, now)
    return deployment


async def fail_deployment(
    session: AsyncSession, deployment: Deployment, detail: str
) -> None:
    """Give up on a deployment that cannot be delivered (its agent was revoked)."""
    deployment.status = DeploymentStatus.FAILED
    deployment.error = deployment_problem(detail)
    deployment.next_run_at = None
    await record_event(session, deployment, FAILED_EVENT, attempts=deployment.attempts,
                       error=deployment.error)


async def _deliver(session: AsyncSession, target: DeploymentTarget, cert: Certificate,
                   deployment: Deployment, now: datetime, not_before: datetime | None = None
                   ) -> None:
    """Due now (or at ``not_before``): an agent target gets its deploy task here; other
    kinds are delivered by the issuer's deployer when ``next_run_at`` comes."""
    deployment.next_run_at = not_before or now
    if target.kind is DeploymentKind.AGENT:
        agent = await session.get(Agent, target.agent_id) if target.agent_id else None
        if agent is None or agent.revoked_at is not None:
            await fail_deployment(session, deployment, "the target's agent is revoked or gone")
            return
        config = {k: v for k, v in target.config.items() if k != "agent_id"}
        payload = {"certificate_id": str(cert.id), "serial": cert.serial,
                   "sni": cert.names[0] if cert.names else cert.common_name, **config}
        session.add(new_task(agent.id, AgentTaskKind.DEPLOY, payload,
                             deployment_id=deployment.id, not_before=not_before))


async def apply_deploy_result(session: AsyncSession, task: AgentTask, now: datetime) -> None:
    """What the agent's report on a deploy task means for its deployment (same transaction)."""
    if task.deployment_id is None:
        return
    deployment = await session.get(Deployment, task.deployment_id, with_for_update=True)
    if deployment is None:
        return  # the target was deleted meanwhile
    result = task.result or {}
    verdict = deploy_verdict(bool(result.get("ok")), result, str(task.payload["serial"]))
    deployment.attempts += 1
    deployment.status, deployment.error = verdict.status, verdict.error
    deployment.served_serial = verdict.served_serial
    deployment.detail = {k: result.get(k) for k in ("files", "reload", "served")}
    deployment.next_run_at = None
    if verdict.status is not DeploymentStatus.FAILED:
        deployment.deployed_at = now
    if verdict.status is DeploymentStatus.CONFIRMED:
        deployment.confirmed_at = now
    if verdict.event is not None:
        await record_event(session, deployment, verdict.event, attempts=deployment.attempts,
                           error=verdict.error)
    if verdict.status is DeploymentStatus.FAILED:
        await _retry_later(session, deployment, now)


async def _retry_later(session: AsyncSession, deployment: Deployment, now: datetime) -> None:
    delay = retry_delay(deployment.attempts)
    target = await session.get(DeploymentTarget, deployment.target_id)
    cert = await session.get(Certificate, deployment.certificate_id)
    if delay is None or target is None or cert is None:
        return
    await _deliver(session, target, cert, deployment, now, now + timedelta(seconds=delay))


def deploy_material(keyring: Keyring, cert: Certificate) -> dict[str, str]:
    """The PEM files of a deploy task, added when the task is handed to its agent."""
    chain = split_pem_chain(cert.chain_pem)
    pem = serialization.Encoding.PEM
    leaf = chain[0].public_bytes(pem).decode()
    rest = "".join(c.public_bytes(pem).decode() for c in chain[1:])
    key = keyring.open(cert.private_key_sealed, cert.seal_context).decode()
    return {"cert_pem": leaf, "chain_pem": rest, "fullchain_pem": leaf + rest, "key_pem": key}
