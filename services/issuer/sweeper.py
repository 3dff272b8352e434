"""Rings the doorbell again for work whose job was lost (Redis flushed, worker killed).

Safe with many replicas: a duplicate job finds the row claimed or already advanced.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import or_, select

from services.issuer.context import IssuerContext
from services.issuer.jobs import WORKED_STATUSES
from shared.db_errors import is_database_unavailable
from shared.domain.requests import enqueue_advance
from shared.models import CertificateRequest
from shared.queue import QUEUE_ERRORS

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


async def sweep_once(ctx: IssuerContext) -> int:
    """Enqueue every worked request that is overdue and not leased. Returns the count."""
    now = ctx.clock()
    overdue = now - timedelta(seconds=ctx.settings.sweep_interval_seconds)
    stmt = (
        select(CertificateRequest.id, CertificateRequest.version)
        .where(
            CertificateRequest.status.in_(WORKED_STATUSES),
            or_(CertificateRequest.next_run_at.is_(None), CertificateRequest.next_run_at < overdue),
            or_(CertificateRequest.lease_until.is_(None), CertificateRequest.lease_until < now),
        )
        .order_by(CertificateRequest.next_run_at)
        .limit(SWEEP_BATCH)
    )
    async with ctx.sessions() as session:
        rows = (await session.execute(stmt)).all()
    enqueued = 0
    for request_id, version in rows:
        if await enqueue_advance(ctx.queue, request_id, version, origin="sweep"):
            enqueued += 1
    if enqueued:
        logger.info("sweeper.requeued", extra={"count": enqueued})
    return enqueued


async def run_sweeper(ctx: IssuerContext, stop: asyncio.Event) -> None:
    """Sweep at start, then every ``sweep_interval_seconds`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await sweep_once(ctx)
        except Exception as exc:
            _log_failure(exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=ctx.settings.sweep_interval_seconds)
        except TimeoutError:
            continue


def _log_failure(exc: Exception) -> None:
    """An outage (database or Redis down) is expected and said in one line each interval;
    anything else is a bug and keeps its traceback."""
    if isinstance(exc, QUEUE_ERRORS) or is_database_unavailable(exc):
        logger.warning("sweeper.unavailable", extra={"error": type(exc).__name__})
    else:
        logger.exception("sweeper.failed")
