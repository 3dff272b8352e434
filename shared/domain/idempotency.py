"""``Idempotency-Key``: a retried POST gets the first answer instead of making a second
resource. The answer is kept in the same transaction as the resource it describes (the
domain function calls :func:`remember` before its commit), under a unique (caller, key):
of two concurrent duplicates one commits, the other's commit fails on the constraint and
nothing of it is written, and it answers with the winner's kept answer. Answers are kept
:data:`KEPT_FOR`; expired ones are purged whenever a key is looked up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.domain.tokens import Principal
from shared.errors import Conflict, ValidationProblem
from shared.models import IdempotencyRecord

KEPT_FOR = timedelta(hours=24)


class IdempotencyKeyReused(ValidationProblem):
    slug = "idempotency-key-reused"
    title = "The Idempotency-Key was already used for a different request"


class IdempotencyKeyInProgress(Conflict):
    slug = "idempotency-key-in-progress"
    title = "A request with this Idempotency-Key is still being handled"


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IdempotentCall:
    """One POST that carries an Idempotency-Key: who sent it, the key, and what it asked."""

    caller: str
    key: str
    fingerprint: str

    @classmethod
    def of(cls, actor: Principal, key: str, route: str, body: object) -> IdempotentCall:
        caller = f"token:{actor.token_id}" if actor.token_id else f"name:{actor.name}"
        asked = json.dumps({"route": route, "body": body}, sort_keys=True, default=str)
        return cls(caller, key, hashlib.sha256(asked.encode()).hexdigest())


async def kept_answer(
    session: AsyncSession, call: IdempotentCall, now: datetime
) -> KeptAnswer | None:
    """The answer kept for this key (None: first use); 422 when the key was used for a
    different route or body. Purges expired answers (in its own short transaction)."""
    await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    record = await session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.caller == call.caller, IdempotencyRecord.key == call.key))
    await session.commit()
    if record is None:
        return None
    if record.request_hash != call.fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with another body or route; use a new key")
    return KeptAnswer(record.status_code, record.response_body)


def remember(
    session: AsyncSession, call: IdempotentCall, answer: KeptAnswer, now: datetime
) -> None:
    """Keep the answer; call it in the transaction that writes what the answer describes."""
    session.add(IdempotencyRecord(
        caller=call.caller, key=call.key, request_hash=call.fingerprint,
        status_code=answer.status_code, response_body=answer.body,
        created_at=now, expires_at=now + KEPT_FOR,
    ))


def is_key_clash(exc: IntegrityError) -> bool:
    """The commit failed because a concurrent duplicate kept its answer first."""
    return "idempotency_keys" in str(exc.orig)


async def answer_after_clash(
    session: AsyncSession, call: IdempotentCall, now: datetime
) -> KeptAnswer:
    """The winner's answer, for the loser of a race between duplicates."""
    await session.rollback()
    kept = await kept_answer(session, call, now)
    if kept is None:
        raise IdempotencyKeyInProgress("a request with this Idempotency-Key is in progress")
    return kept
