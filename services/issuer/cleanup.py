"""The cleanup job: remove every TXT record a finished request may have published.

Enqueued after issuance, failure and cancel, and by the sweeper for any final request with
records not cleaned (a lost doorbell, a killed worker). It claims the request's lease, so it
never runs beside another job on the request — including an advance job fenced out by a
cancel that is still presenting: cleanup waits for its lease to run out. Each record is
removed (value-scoped and idempotent, so a second run is harmless) and marked
``cleaned_at`` in its own short transaction; no transaction is open while a provider is
called. A failure is retried with a backoff, up to :data:`MAX_CLEANUP_ATTEMPTS` times.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.issuer.context import IssuerContext, issuer_of
from services.issuer.dns01 import remove_record, settings_of, uncleaned
from services.issuer.lease import claim
from services.issuer.outcomes import attempt_delay
from shared.domain.requests import enqueue_cleanup
from shared.errors import Problem
from shared.models import CertificateRequest, Challenge
from shared.states import RequestStatus

logger = logging.getLogger(__name__)

FINAL_STATUSES = [s for s in RequestStatus if s.is_final]
MAX_CLEANUP_ATTEMPTS = 20


def needs_cleanup(req: CertificateRequest) -> bool:
    return req.status.is_final and bool(uncleaned(req.challenges))


async def cleanup_request(ctx: dict[str, Any], request_id: str) -> None:
    """arq / in-process entry point."""
    await clean_up(issuer_of(ctx), UUID(request_id))


async def clean_up(ctx: IssuerContext, request_id: UUID) -> None:
    owner, now = uuid4().hex, ctx.clock()
    async with ctx.sessions.begin() as session:
        if not await claim(ctx, session, request_id, owner, now, statuses=FINAL_STATUSES,
                           fence=False):
            return
    delay: float | None = None
    attempt = 0
    try:
        async with ctx.sessions() as session:
            req = await session.get(CertificateRequest, request_id)
            rows = uncleaned(req.challenges) if req is not None else []
            await session.commit()
            failed = [row for row in rows if not await _clean_one(ctx, session, row)]
            if failed:
                attempt = max(row.cleanup_attempts for row in failed)
                delay = attempt_delay(attempt, None)
    finally:
        await _release(ctx, request_id, owner, ctx.clock(), delay)
    if delay is not None and attempt < MAX_CLEANUP_ATTEMPTS:
        await enqueue_cleanup(ctx.queue, request_id, attempt, delay)


async def _clean_one(ctx: IssuerContext, session: AsyncSession, row: Challenge) -> bool:
    """Remove one record and mark the row; a problem is counted on the row. True if cleaned."""
    try:
        settings = await settings_of(session, ctx.keyring, row)
        await session.commit()
        await remove_record(ctx.dns, settings, row)
    except Problem as exc:
        await session.rollback()
        row.cleanup_attempts += 1
        row.cleanup_error = exc.to_dict()
        logger.warning("dns.cleanup_failed", extra={
            "request_id": str(row.request_id), "record": row.record_name,
            "attempt": row.cleanup_attempts, "problem": exc.type_uri(),
        })
        await session.commit()
        return False
    row.cleaned_at = ctx.clock()
    row.cleanup_error = None
    await session.commit()
    return True



async def _release(
    ctx: IssuerContext, request_id: UUID, owner: str, now: datetime, delay: float | None
) -> None:
    """Give the lease back; after a failure it is kept as the backoff, so the sweeper does
    not ring before the retry is due."""
    until = now + timedelta(seconds=delay) if delay is not None else None
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(CertificateRequest)
            .where(CertificateRequest.id == request_id, CertificateRequest.lease_owner == owner)
            .values(lease_owner=None, lease_until=until)
            .execution_options(synchronize_session=False)
        )
