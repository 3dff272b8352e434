"""Agents, the agent-facing task API, and deployment targets with their deployments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, SecretStr

from services.api.schemas.common import ApiModel, PageOf, StoredProblem
from shared.models.agents import AGENT_NAME_LENGTH, TARGET_NAME_LENGTH
from shared.states import AgentTaskKind, DeploymentKind, DeploymentStatus

Name = Annotated[str, Field(min_length=1, max_length=AGENT_NAME_LENGTH,
                            pattern=r"^[^\x00-\x1f\x7f]+$")]
TargetName = Annotated[str, Field(min_length=1, max_length=TARGET_NAME_LENGTH,
                                  pattern=r"^[^\x00-\x1f\x7f]+$")]
Short = Annotated[str, Field(max_length=4096)]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=1024,
                                    description="webhook only: whsec_…; write-only")]


class AgentCreate(ApiModel):
    name: Name


class AgentPublic(ApiModel):
    id: UUID
    name: str
    enrolled_at: datetime | None
    last_seen_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class AgentCreated(AgentPublic):
    enrollment_token: str = Field(description="Shown once; `certkeeper-agent enroll` "
                                  "exchanges it for the agent's credential (valid 24 h)")


class AgentEnrolled(ApiModel):
    agent_id: UUID
    name: str
    credential: str = Field(description="The agent's own bearer token; shown once")


class AgentTaskOut(ApiModel):
    id: UUID
    kind: AgentTaskKind
    payload: dict[str, Any] = Field(description="What to do; a deploy task carries the PEM "
                                    "files (`cert_pem`, `chain_pem`, `fullchain_pem`, `key_pem`)")


class AgentTaskPage(ApiModel):
    items: list[AgentTaskOut]
    next_cursor: None = None


class ServedSerial(ApiModel):
    endpoint: Short
    serial: Annotated[str, Field(max_length=128)] | None = None
    failure: Short | None = Field(None, description="Why nothing could be read from it")


class ReloadReport(ApiModel):
    exit_code: int | None = None
    timed_out: bool = False
    output_tail: Annotated[str, Field(max_length=8192)] = ""


class AgentTaskResult(ApiModel):
    ok: bool
    detail: Short | None = None
    files: list[Short] = Field(default_factory=list, max_length=16)
    reload: ReloadReport | None = None
    served: list[ServedSerial] = Field(default_factory=list, max_length=32)


class DeploymentTargetCreate(ApiModel):
    name: TargetName
    kind: DeploymentKind
    config: dict[str, Any] = Field(description="The kind's settings (see README)")
    certificate_id: UUID | None = Field(None, description="This certificate and its renewals")
    domains: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=100,
        description="Every certificate whose names all lie under these domains")
    secret: Secret | None = None


class DeploymentTargetUpdate(ApiModel):
    name: TargetName | None = None
    config: dict[str, Any] | None = None
    secret: Secret | None = None


class DeploymentPublic(ApiModel):
    id: UUID
    certificate_id: UUID
    status: DeploymentStatus
    served_serial: str | None = Field(description="Hex, as the probed endpoints serve it")
    error: StoredProblem
    attempts: int
    next_run_at: datetime | None
    deployed_at: datetime | None
    confirmed_at: datetime | None
    updated_at: datetime


class DeploymentTargetPublic(ApiModel):
    id: UUID
    name: str
    kind: DeploymentKind
    config: dict[str, Any]
    certificate_id: UUID | None
    domains: list[str]
    secret_set: list[str] = Field(description="Secret fields holding a value")
    deployments: list[DeploymentPublic]
    created_at: datetime
    updated_at: datetime


class AgentPage(PageOf[AgentPublic]):
    """A page of agents."""


class DeploymentTargetPage(PageOf[DeploymentTargetPublic]):
    """A page of deployment targets."""
