"""Rings the doorbell again for work whose job was lost (Redis flushed, worker killed):
requests still being worked, and final requests whose DNS records were never cleaned up.

Safe with many replicas: a duplicate job finds the row claimed or already advanced.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from services.issuer.cleanup import FINAL_STATUSES, MAX_CLEANUP_ATTEMPTS
from services.issuer.context import IssuerContext
from services.issuer.jobs import WORKED_STATUSES
from shared.db_errors import is_database_unavailable
from shared.domain.requests import enqueue_advance, enqueue_cleanup
from shared.models import CertificateRequest, Challenge
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
    enqueued += await _sweep_cleanups(ctx, now, overdue)
    if enqueued:
        logger.info("sweeper.requeued", extra={"count": enqueued})
    return enqueued


async def _sweep_cleanups(ctx: IssuerContext, now: datetime, overdue: datetime) -> int:
    """Final requests, finished a while ago and not leased (a failed cleanup keeps the lease
    as its backoff), with records not cleaned that have attempts left."""
    stmt = (
        select(CertificateRequest.id, func.max(Challenge.cleanup_attempts))
        .join(Challenge, Challenge.request_id == CertificateRequest.id)
        .where(
            CertificateRequest.status.in_(FINAL_STATUSES),
            CertificateRequest.finished_at < overdue,
            or_(CertificateRequest.lease_until.is_(None), CertificateRequest.lease_until < now),
            Challenge.record_name.is_not(None),
            Challenge.cleaned_at.is_(None),
            Challenge.cleanup_attempts < MAX_CLEANUP_ATTEMPTS,
        )
        .group_by(CertificateRequest.id)
        .limit(SWEEP_BATCH)
    )
    async with ctx.sessions() as session:
        rows = (await session.execute(stmt)).all()
    enqueued = 0
    for request_id, attempt in rows:
        if await enqueue_cleanup(ctx.queue, request_id, int(attempt), origin="cleanup-sweep"):
            enqueued += 1
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
