"""The audit trail: who read a private key, who registered an account."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from shared.domain.tokens import Principal
from shared.models import AuditEvent


def record(
    session: AsyncSession,
    actor: Principal,
    action: str,
    resource_type: str,
    resource_id: UUID | None,
    **details: Any,
) -> None:
    session.add(
        AuditEvent(
            actor_token_id=actor.token_id,
            actor_name=actor.name,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            details=details,
        )
    )
