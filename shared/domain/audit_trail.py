"""Reading the audit trail: the filtered list behind ``GET /v1/audit-events`` and the
chain check behind ``certkeeper audit verify``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Sessions
from shared.domain.audit import GENESIS_HASH, event_hash
from shared.domain.pagination import Page, paginate
from shared.models import AuditEvent

VERIFY_BATCH = 1000


@dataclass(frozen=True, slots=True)
class EventFilter:
    action: str | None = None
    actor: str | None = None  # a token id, or an actor name
    target_id: UUID | None = None
    since: datetime | None = None


async def list_events(
    session: AsyncSession, where: EventFilter, cursor: str | None, limit: int
) -> Page[AuditEvent]:
    """Newest first."""
    stmt = select(AuditEvent)
    if where.action is not None:
        stmt = stmt.where(AuditEvent.action == where.action)
    if where.actor is not None:
        stmt = stmt.where(_actor_is(where.actor))
    if where.target_id is not None:
        stmt = stmt.where(AuditEvent.target_id == where.target_id)
    if where.since is not None:
        stmt = stmt.where(AuditEvent.at >= where.since)
    return await paginate(session, stmt, created_at=AuditEvent.at, row_id=AuditEvent.id,
                          cursor=cursor, limit=limit)


def _actor_is(actor: str) -> ColumnElement[bool]:
    try:
        token_id = UUID(actor)
    except ValueError:
        return AuditEvent.actor_name == actor
    return or_(AuditEvent.actor_token_id == token_id, AuditEvent.actor_name == actor)


@dataclass(frozen=True, slots=True)
class ChainReport:
    events: int
    broken_at: AuditEvent | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def check_link(row: AuditEvent, seq: int, prev_hash: str) -> str | None:
    """Why ``row`` does not follow an event with ``seq - 1`` and ``prev_hash``, or None."""
    if row.seq != seq:
        return f"seq {row.seq} where {seq} was expected (an event is missing)"
    if row.prev_hash != prev_hash:
        return "prev_hash is not the hash of the event before it"
    if row.hash != event_hash(row):
        return "hash does not match the event's fields (the event was changed)"
    return None


async def verify_chain(sessions: Sessions) -> ChainReport:
    """Walk the chain in ``seq`` order, in batches; the first broken event and why."""
    seq, prev_hash, checked = 0, GENESIS_HASH, 0
    while True:
        async with sessions() as session:
            rows = (await session.scalars(
                select(AuditEvent).where(AuditEvent.seq > seq)
                .order_by(AuditEvent.seq).limit(VERIFY_BATCH)
            )).all()
        if not rows:
            return ChainReport(events=checked)
        for row in rows:
            reason = check_link(row, seq + 1, prev_hash)
            if reason is not None:
                return ChainReport(events=checked, broken_at=row, reason=reason)
            seq, prev_hash, checked = row.seq, row.hash, checked + 1
