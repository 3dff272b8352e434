"""Deployment targets (``/v1/deployment-targets``): where certificates go. A target names one
certificate (and then follows its lineage through renewals) or a list of domains (every
certificate whose names all lie under them). Creating a target deploys the current
certificates it covers; every later issuance or renewal deploys again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.crypto import Keyring
from shared.domain import audit
from shared.domain.agents import usable_agent
from shared.domain.deployment_config import InvalidTarget, check_secret, checked_config
from shared.domain.deployment_outcomes import covers
from shared.domain.deployments import deploy_certificate
from shared.domain.domain_mappings import normalize_domain
from shared.domain.pagination import Page, paginate
from shared.domain.tokens import Principal
from shared.errors import Conflict, NotFound
from shared.models import AgentTask, Certificate, Deployment, DeploymentTarget
from shared.states import AgentTaskStatus, CertificateStatus, DeploymentKind

TARGET = "deployment_target"


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    kind: DeploymentKind
    config: dict[str, Any]
    certificate_id: UUID | None
    domains: list[str]
    secret: str | None = None


async def _agent_of(session: AsyncSession, kind: DeploymentKind, config: dict[str, Any]
                    ) -> UUID | None:
    if kind is not DeploymentKind.AGENT:
        return None
    agent = await usable_agent(session, UUID(str(config["agent_id"])))
    return agent.id


async def _resolve(session: AsyncSession, settings: Settings, spec: TargetSpec
                   ) -> tuple[dict[str, Any], UUID | None, list[str], Certificate | None]:
    config = checked_config(spec.kind, spec.config)
    if (spec.certificate_id is None) == (not spec.domains):
        raise InvalidTarget("give certificate_id or domains (one of them)")
    cert = None
    if spec.certificate_id is not None:
        cert = await session.get(Certificate, spec.certificate_id)
        if cert is None:
            raise NotFound(f"no certificate {spec.certificate_id}")
    domains = sorted({normalize_domain(d, settings) for d in spec.domains})
    return config, cert.lineage_id if cert else None, domains, cert


def _seal(keyring: Keyring, target: DeploymentTarget, secret: str | None) -> None:
    target.secret_sealed = (None if secret is None
                            else keyring.seal(secret.encode(), target.seal_context))


async def create_target(
    session: AsyncSession, keyring: Keyring, settings: Settings, spec: TargetSpec,
    actor: Principal, now: datetime,
) -> DeploymentTarget:
    config, lineage_id, domains, _cert = await _resolve(session, settings, spec)
    check_secret(spec.kind, spec.secret)
    if await session.scalar(select(DeploymentTarget.id).where(
            DeploymentTarget.name == spec.name)) is not None:
        raise Conflict(f"a deployment target named {spec.name!r} exists already")
    target = DeploymentTarget(
        id=uuid4(), name=spec.name, kind=spec.kind, config=config,
        certificate_id=spec.certificate_id, lineage_id=lineage_id, domains=domains,
        agent_id=await _agent_of(session, spec.kind, config),
    )
    _seal(keyring, target, spec.secret)
    session.add(target)
    audit.record(session, actor, "deployment_target.created", TARGET, target.id,
                 name=spec.name, kind=str(spec.kind))
    await session.flush()
    for cert in await _current_certificates(session, target):
        await deploy_certificate(session, target, cert, now)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a deployment target named {spec.name!r} exists already") from None
    return target


async def _current_certificates(session: AsyncSession, target: DeploymentTarget
                                ) -> list[Certificate]:
    """The active certificates the target covers now (the newest of its lineage)."""
    stmt = select(Certificate).where(Certificate.status == CertificateStatus.ACTIVE)
    if target.lineage_id is not None:
        stmt = stmt.where(Certificate.lineage_id == target.lineage_id)
        newest = (await session.scalars(stmt.order_by(Certificate.not_after.desc()).limit(1)))
        return list(newest)
    return [c for c in await session.scalars(stmt) if covers(target.domains, c.names)]


async def get_target(session: AsyncSession, target_id: UUID) -> DeploymentTarget:
    target = await session.get(DeploymentTarget, target_id)
    if target is None:
        raise NotFound(f"no deployment target {target_id}")
    return target


async def list_targets(session: AsyncSession, cursor: str | None, limit: int
                       ) -> Page[DeploymentTarget]:
    return await paginate(session, select(DeploymentTarget),
                          created_at=DeploymentTarget.created_at, row_id=DeploymentTarget.id,
                          cursor=cursor, limit=limit)


async def deployments_of(session: AsyncSession, target_ids: list[UUID]
                         ) -> dict[UUID, list[Deployment]]:
    rows = await session.scalars(
        select(Deployment).where(Deployment.target_id.in_(target_ids))
        .order_by(Deployment.created_at.desc())
    )
    found: dict[UUID, list[Deployment]] = {t: [] for t in target_ids}
    for row in rows:
        found[row.target_id].append(row)
    return found


async def update_target(
    session: AsyncSession, keyring: Keyring, target_id: UUID, changes: dict[str, Any],
    actor: Principal,
) -> DeploymentTarget:
    """Change the name, the config or the secret (the kind and what it covers stay: make a
    new target for those)."""
    target = await get_target(session, target_id)
    if "secret" in changes:
        check_secret(target.kind, changes["secret"])
        _seal(keyring, target, changes["secret"])
    if "config" in changes:
        target.config = checked_config(target.kind, changes["config"])
        target.agent_id = await _agent_of(session, target.kind, target.config)
    if "name" in changes and changes["name"] != target.name:
        if await session.scalar(select(DeploymentTarget.id).where(
                DeploymentTarget.name == changes["name"])) is not None:
            raise Conflict(f"a deployment target named {changes['name']!r} exists already")
        target.name = changes["name"]
    audit.record(session, actor, "deployment_target.updated", TARGET, target_id,
                 changed=sorted(changes))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("a deployment target with this name exists already") from None
    return target


async def delete_target(session: AsyncSession, target_id: UUID, actor: Principal) -> None:
    """The target and its deployment history; files already delivered stay where they are,
    and deploy tasks its agent has not run yet are called off."""
    target = await get_target(session, target_id)
    deployments = list(await session.scalars(
        select(Deployment).where(Deployment.target_id == target_id)))
    await session.execute(
        update(AgentTask)
        .where(AgentTask.deployment_id.in_([d.id for d in deployments]),
               AgentTask.status.in_([AgentTaskStatus.PENDING, AgentTaskStatus.CLAIMED]))
        .values(status=AgentTaskStatus.FAILED, result={"ok": False,
                                                       "detail": "the target was deleted"})
        .execution_options(synchronize_session=False))
    for row in deployments:
        await session.delete(row)
    await session.delete(target)
    audit.record(session, actor, "deployment_target.deleted", TARGET, target_id,
                 name=target.name)
    await session.commit()
