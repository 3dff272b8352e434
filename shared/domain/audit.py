"""The audit trail: who did what to which resource, when, from where, and with what outcome.

:func:`record` adds an event to the session's transaction; the event is written when that
transaction commits, so it exists exactly when the change it describes does. Events are
append-only and hash-chained: at commit each pending event gets the next ``seq``, the
``hash`` of the event before it as ``prev_hash``, and its own ``hash`` over a canonical JSON
of its fields and ``prev_hash`` (:func:`event_hash`). Appends are serialized so concurrent
writers never fork the chain: on Postgres a transaction-level advisory lock is taken just
before the insert, at commit, and held until the commit ends; SQLite transactions here all
start with ``BEGIN IMMEDIATE``, so there is one writer at a time anyway. A unique ``seq``
and a unique ``hash`` make a fork impossible even without the lock.

The commit hook is installed on SQLAlchemy's ``Session`` class when this module is
imported, so every session of every process (api, issuer, renewer, CLI) chains its events.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from shared.domain.tokens import Principal
from shared.models import AuditEvent
from shared.models.base import utcnow
from shared.models.tokens import CLIENT_ADDRESS_LENGTH, REQUEST_ID_LENGTH, TOKEN_NAME_LENGTH

GENESIS_HASH = "0" * 64  # the prev_hash of the first event
# pg_advisory_xact_lock key of audit appends ("ckaudit" in ASCII).
APPEND_LOCK_KEY = 0x636B6175646974
_PENDING = "certkeeper.audit.pending"  # key in Session.info


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"  # refused for permission: a 403, or a 404 because of the token's scope


def record(
    session: AsyncSession | Session,
    actor: Principal,
    action: str,
    target_type: str,
    target_id: UUID | None,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    **details: Any,
) -> None:
    """Add an event to the session's transaction; it is chained and written at commit
    and dropped with a rollback."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if not sync.in_transaction():
        sync.begin()  # no I/O: the events belong to this transaction, whatever comes next
    pending: list[AuditEvent] = sync.info.setdefault(_PENDING, [])
    pending.append(AuditEvent(
        id=uuid4(), at=utcnow(), actor_token_id=actor.token_id,
        actor_name=actor.name[:TOKEN_NAME_LENGTH], action=action, target_type=target_type,
        target_id=target_id, outcome=outcome.value,
        client_address=_clip(actor.client_address, CLIENT_ADDRESS_LENGTH),
        request_id=_clip(actor.request_id, REQUEST_ID_LENGTH),
        details=json.loads(json.dumps(details, default=str)),  # as the JSON column returns it
    ))


def _clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


def canonical_fields(row: AuditEvent) -> dict[str, Any]:
    """The fields the hash covers, in JSON types."""
    return {
        "id": str(row.id),
        "seq": row.seq,
        "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_token_id": None if row.actor_token_id is None else str(row.actor_token_id),
        "actor_name": row.actor_name,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": None if row.target_id is None else str(row.target_id),
        "outcome": row.outcome,
        "client_address": row.client_address,
        "request_id": row.request_id,
        "details": row.details,
        "prev_hash": row.prev_hash,
    }


def event_hash(row: AuditEvent) -> str:
    """SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of the fields."""
    canonical = json.dumps(
        canonical_fields(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _append_pending(session: Session) -> None:
    """``before_commit``: chain and insert the events recorded in this transaction."""
    pending: list[AuditEvent] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # the changes the events describe first; the lock is held from here
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(APPEND_LOCK_KEY)))
    last = connection.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last[0], last[1]) if last is not None else (0, GENESIS_HASH)
    for row in pending:
        seq += 1
        row.seq, row.prev_hash = seq, prev_hash
        row.hash = prev_hash = event_hash(row)
    session.add_all(pending)


def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ends without committing takes its events with it."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


event.listen(Session, "before_commit", _append_pending)
event.listen(Session, "after_transaction_end", _drop_pending)
