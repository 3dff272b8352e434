"""API tokens (only a hash is stored) and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, IdMixin, TimestampMixin, str_enum, utcnow
from shared.roles import Role

TOKEN_NAME_LENGTH = 128
HASH_LENGTH = 64  # SHA-256 in hex
CLIENT_ADDRESS_LENGTH = 64
REQUEST_ID_LENGTH = 64


class ApiToken(IdMixin, TimestampMixin, Base):
    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(TOKEN_NAME_LENGTH))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    # Suffix scope: empty reaches every domain; otherwise only names equal to or under one.
    domains: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    expires_at: Mapped[datetime | None]
    # Written at most once a minute per token (see shared.domain.tokens), not per request.
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEvent(IdMixin, Base):
    """One line of the audit trail. Append-only (the migration installs triggers refusing
    UPDATE and DELETE) and hash-chained in ``seq`` order: ``hash`` covers the event's fields
    and ``prev_hash``, the ``hash`` of the event before it (see shared.domain.audit)."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_token_id: Mapped[UUID | None]
    actor_name: Mapped[str] = mapped_column(String(TOKEN_NAME_LENGTH))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[UUID | None] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    client_address: Mapped[str | None] = mapped_column(String(CLIENT_ADDRESS_LENGTH))
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_LENGTH))
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
