"""The deployer: delivers due deployments to the targets the issuer reaches itself
(``kubernetes-secret``, ``webhook``), in its own loop beside the sweeper, safe with many issuers.

Each round claims due deployments (pending, or failed with a retry due) by a conditional
update that pushes ``next_run_at`` ahead by :data:`CLAIM_SECONDS` (a lease: a deployer
that dies mid-delivery leaves it to be taken again), reads what it needs and commits, calls
the target with no transaction open, then writes the outcome in a short transaction, with
the ``deployment.failed`` event when it failed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from services.issuer.context import IssuerContext
from services.issuer.delivery import DeliveryFailed, Material
from services.issuer.webhook_delivery import post_webhook
from shared.domain.deployment_config import KubernetesSecretConfig, WebhookConfig
from shared.domain.deployment_outcomes import FAILED_EVENT, retry_delay
from shared.domain.deployments import deploy_material, record_event
from shared.models import Certificate, Deployment, DeploymentTarget
from shared.states import DeploymentKind, DeploymentStatus

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 120
BATCH = 20
SELF_DELIVERED = [DeploymentKind.KUBERNETES_SECRET, DeploymentKind.WEBHOOK]


async def _claim(ctx: IssuerContext, now: datetime) -> list[UUID]:
    due = (
        select(Deployment.id)
        .join(DeploymentTarget, DeploymentTarget.id == Deployment.target_id)
        .where(DeploymentTarget.kind.in_(SELF_DELIVERED),
               Deployment.status.in_([DeploymentStatus.PENDING, DeploymentStatus.FAILED]),
               Deployment.next_run_at.is_not(None), Deployment.next_run_at <= now)
        .order_by(Deployment.next_run_at).limit(BATCH)
    )
    claimed: list[UUID] = []
    async with ctx.sessions() as session:
        for deployment_id in list(await session.scalars(due)):
            won = await session.execute(
                update(Deployment)
                .where(Deployment.id == deployment_id, Deployment.next_run_at <= now)
                .values(next_run_at=now + timedelta(seconds=CLAIM_SECONDS))
                .execution_options(synchronize_session=False))
            if won.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(deployment_id)
        await session.commit()
    return claimed


@dataclass(frozen=True)
class Delivery:
    """Everything one delivery needs, read before any network call."""

    kind: DeploymentKind
    config: dict[str, Any]
    material: Material
    secret: str | None
    event: str  # certificate.issued or certificate.renewed
    message_id: str  # the same for every attempt of one deployment


async def _load(ctx: IssuerContext, deployment_id: UUID) -> Delivery | None:
    async with ctx.sessions() as session:
        deployment = await session.get(Deployment, deployment_id)
        if deployment is None:
            return None
        target = await session.get(DeploymentTarget, deployment.target_id)
        cert = await session.get(Certificate, deployment.certificate_id)
        if target is None or cert is None:
            return None
        files = deploy_material(ctx.keyring, cert)
        secret = (ctx.keyring.open(target.secret_sealed, target.seal_context).decode()
                  if target.secret_sealed is not None else None)
        await session.commit()
    event = "certificate.renewed" if cert.replaces_id else "certificate.issued"
    material = Material(str(cert.id), cert.serial, list(cert.names), **files)
    return Delivery(target.kind, dict(target.config), material, secret, event,
                    f"msg_{deployment_id.hex}")


async def _deliver(delivery: Delivery, now: datetime) -> None:
    if delivery.kind is DeploymentKind.KUBERNETES_SECRET:
        # The generated Kubernetes client takes a second of CPU to import: only processes
        # that deliver to Kubernetes pay for it.
        from services.issuer.kube_secret import apply_secret

        config = KubernetesSecretConfig.model_validate(delivery.config)
        await apply_secret(config, delivery.material)
    elif delivery.kind is DeploymentKind.WEBHOOK and delivery.secret is not None:
        await post_webhook(WebhookConfig.model_validate(delivery.config), delivery.secret,
                           delivery.material, delivery.event, delivery.message_id, now)
    else:
        raise DeliveryFailed(f"the issuer does not deliver to {delivery.kind} targets")


async def _record(ctx: IssuerContext, deployment_id: UUID, failure: DeliveryFailed | None
                  ) -> None:
    now = ctx.clock()
    async with ctx.sessions() as session:
        deployment = await session.get(Deployment, deployment_id)
        if deployment is None:
            return
        deployment.attempts += 1
        if failure is None:
            deployment.status, deployment.error = DeploymentStatus.DEPLOYED, None
            deployment.deployed_at, deployment.next_run_at = now, None
        else:
            deployment.status, deployment.error = DeploymentStatus.FAILED, failure.to_dict()
            delay = retry_delay(deployment.attempts)
            deployment.next_run_at = None if delay is None else now + timedelta(seconds=delay)
            await record_event(session, deployment, FAILED_EVENT,
                               attempts=deployment.attempts, error=failure.to_dict())
        await session.commit()


async def deliver_due(ctx: IssuerContext) -> int:
    """One round; returns how many deployments were attempted."""
    claimed = await _claim(ctx, ctx.clock())
    for deployment_id in claimed:
        loaded = await _load(ctx, deployment_id)
        if loaded is None:
            continue
        failure: DeliveryFailed | None = None
        try:
            await _deliver(loaded, ctx.clock())
        except DeliveryFailed as exc:
            failure = exc
        await _record(ctx, deployment_id, failure)
    return len(claimed)


async def run_deployer(ctx: IssuerContext, stop: asyncio.Event) -> None:
    """A round every ``sweep_interval_seconds`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await deliver_due(ctx)
        except Exception:
            logger.exception("deployer.failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=ctx.settings.sweep_interval_seconds)
        except TimeoutError:
            continue
