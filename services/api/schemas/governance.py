"""Tokens and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, field_validator

from services.api.schemas.common import ApiModel, PageOf, UtcDatetime
from shared.domain.scope import MAX_SCOPE_DOMAINS
from shared.models.tokens import TOKEN_NAME_LENGTH
from shared.roles import Role


class TokenCreate(ApiModel):
    name: str = Field(min_length=1, max_length=TOKEN_NAME_LENGTH, examples=["team-a-deployer"])
    role: Role
    expires_at: UtcDatetime | None = Field(None, description="RFC 3339; null: never expires")
    domains: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=MAX_SCOPE_DOMAINS,
        description="Suffix scope: the token reaches only certificates and requests whose "
        "every name equals or lies under one of these (operator and viewer tokens only); "
        "empty: every domain",
        examples=[["team-a.example.com"]],
    )

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.strip() or not value.isprintable():
            raise ValueError("must be printable characters, not only spaces")
        return value


class TokenPublic(ApiModel):
    id: UUID
    name: str
    role: Role
    domains: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Kept to the minute, not per request")
    revoked_at: datetime | None
    created_at: datetime


class TokenCreated(TokenPublic):
    token: str = Field(description="The bearer token. Shown this once: only its hash is kept")


class AuditActor(ApiModel):
    token_id: UUID | None = Field(description="null: a Certkeeper process (e.g. the renewer)")
    name: str


class AuditEventPublic(ApiModel):
    id: UUID
    seq: int = Field(description="Position in the hash chain, from 1")
    at: datetime
    actor: AuditActor
    action: str = Field(examples=["certificate.private_key_exported"])
    target_type: str
    target_id: UUID | None
    outcome: str = Field(description="success, or denied (refused for permission or scope)")
    client_address: str | None
    request_id: str | None = Field(description="The X-Request-ID of the API call")
    details: dict[str, Any]
    hash: str = Field(description="SHA-256 over the event's canonical JSON and prev_hash")
    prev_hash: str

    @classmethod
    def of(cls, row: Any) -> AuditEventPublic:
        return cls(
            id=row.id, seq=row.seq, at=row.at,
            actor=AuditActor(token_id=row.actor_token_id, name=row.actor_name),
            action=row.action, target_type=row.target_type, target_id=row.target_id,
            outcome=row.outcome, client_address=row.client_address, request_id=row.request_id,
            details=row.details, hash=row.hash, prev_hash=row.prev_hash,
        )


class TokenPage(PageOf[TokenPublic]):
    """A page of API tokens (never the tokens themselves)."""


class AuditEventPage(PageOf[AuditEventPublic]):
    """A page of the audit trail, newest first."""
