from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from services.api.deps import DEFAULT_PAGE, Admin, Cursor, Limit, SessionDep
from services.api.schemas.common import UtcDatetime, problems
from services.api.schemas.governance import AuditEventPage, AuditEventPublic
from shared.domain import audit_trail
from shared.domain.audit_trail import EventFilter

router = APIRouter(prefix="/v1/audit-events", tags=["audit-events"])


@router.get("", operation_id="listAuditEvents", responses=problems())
async def list_audit_events(
    session: SessionDep,
    _admin: Admin,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_.]+$",
                                        examples=["certificate.private_key_exported"])] = None,
    actor: Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$",
                                       description="A token id or an actor name")] = None,
    target_id: UUID | None = None,
    since: Annotated[UtcDatetime | None, Query(description="RFC 3339; events at or after")
                     ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> AuditEventPage:
    """The audit trail, newest first. ``certkeeper audit verify`` checks its hash chain."""
    page = await audit_trail.list_events(
        session, EventFilter(action=action, actor=actor, target_id=target_id, since=since),
        cursor, limit,
    )
    return AuditEventPage(
        items=[AuditEventPublic.of(row) for row in page.items], next_cursor=page.next_cursor
    )
