"""Agents on end servers, the tasks handed to them, and where certificates are deployed.

An agent's enrollment token and credential are stored as SHA-256 hashes only (both carry
256 bits of entropy). A task's payload holds nothing secret: a deploy task names the
certificate, and the API adds the chain and the key when it hands the task to its agent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import (
    Base,
    IdMixin,
    SealedBytes,
    SealedKeyMixin,
    TimestampMixin,
    str_enum,
)
from shared.states import AgentTaskKind, AgentTaskStatus, DeploymentKind, DeploymentStatus

AGENT_NAME_LENGTH = 128
TARGET_NAME_LENGTH = 128
SERIAL_LENGTH = 64


class Agent(IdMixin, TimestampMixin, Base):
    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(String(AGENT_NAME_LENGTH), unique=True)
    enrollment_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrollment_expires_at: Mapped[datetime | None]
    credential_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]


class AgentTask(IdMixin, TimestampMixin, Base):
    """One thing for one agent to do. Claimed with a lease: a task whose agent went away
    mid-task is handed out again once the lease runs out (every task kind is idempotent)."""

    __tablename__ = "agent_tasks"

    agent_id: Mapped[UUID] = mapped_column(ForeignKey("agents.id"), index=True)
    kind: Mapped[AgentTaskKind] = mapped_column(str_enum(AgentTaskKind))
    payload: Mapped[dict[str, Any]]
    status: Mapped[AgentTaskStatus] = mapped_column(str_enum(AgentTaskStatus), index=True)
    not_before: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    claims: Mapped[int] = mapped_column(default=0, server_default="0")
    deployment_id: Mapped[UUID | None] = mapped_column(index=True)
    result: Mapped[dict[str, Any] | None]
    finished_at: Mapped[datetime | None]


class DeploymentTarget(SealedKeyMixin, TimestampMixin, Base):
    """Where certificates go: a certificate's lineage (it follows renewals), or every
    certificate whose names all lie under ``domains``. ``secret_sealed``: a webhook's
    signing secret."""

    __tablename__ = "deployment_targets"
    sealed_column = "secret_sealed"

    name: Mapped[str] = mapped_column(String(TARGET_NAME_LENGTH), unique=True)
    kind: Mapped[DeploymentKind] = mapped_column(str_enum(DeploymentKind))
    config: Mapped[dict[str, Any]]
    certificate_id: Mapped[UUID | None]
    lineage_id: Mapped[UUID | None] = mapped_column(ForeignKey("lineages.id"), index=True)
    domains: Mapped[list[str]]
    agent_id: Mapped[UUID | None] = mapped_column(ForeignKey("agents.id"), index=True)
    secret_sealed: Mapped[bytes | None] = mapped_column(SealedBytes("deployment_targets.secret"))

    @property
    def secret_set(self) -> list[str]:
        return ["secret"] if self.secret_sealed is not None else []


class Deployment(IdMixin, TimestampMixin, Base):
    """One certificate at one target, and how its delivery went."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("target_id", "certificate_id"),)

    target_id: Mapped[UUID] = mapped_column(
        ForeignKey("deployment_targets.id", ondelete="CASCADE"), index=True
    )
    certificate_id: Mapped[UUID] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[DeploymentStatus] = mapped_column(str_enum(DeploymentStatus))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    served_serial: Mapped[str | None] = mapped_column(String(SERIAL_LENGTH))
    error: Mapped[dict[str, Any] | None]
    detail: Mapped[dict[str, Any] | None]
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    deployed_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
