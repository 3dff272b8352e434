"""The issuer's job: advance one certificate request by one step.

Jobs carry only the request id and are safe to run twice. A job first *claims* the row (a
lease, so a duplicate job returns at once), reads it, talks to the CA outside any database
transaction, then writes the result in one short transaction. The row's version (bumped by
the claim and checked by the ORM on write) fences out a job whose row changed under it,
e.g. a request cancelled mid-step; the next job id is named after the new version.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from services.issuer.context import IssuerContext, issuer_of
from services.issuer.steps import STEPS, Step, fail_request
from shared.errors import AcmeError, Problem
from shared.models import AcmeAccount, CertificateRequest
from shared.services.requests import enqueue_advance
from shared.states import RequestStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
MAX_BACKOFF_SECONDS = 3600.0
WORKED_STATUSES = [s for s in RequestStatus if s.is_worked]


async def advance_request(ctx: dict[str, Any], request_id: str) -> None:
    """arq / in-process entry point."""
    await advance(issuer_of(ctx), UUID(request_id))


async def advance(ctx: IssuerContext, request_id: UUID) -> None:
    now = ctx.clock()
    owner = uuid4().hex
    if not await _claim(ctx, request_id, owner, now):
        return
    async with ctx.sessions() as session:
        req = await session.get(CertificateRequest, request_id)
        account = await session.get(AcmeAccount, req.acme_account_id) if req else None
        await session.commit()
        if req is None or account is None:
            return
        claimed_version = req.version
        delay = await _run_step(ctx, session, req, account, now)
        if req.version != claimed_version:
            return
        next_version = await _finish(session, req, delay, now)
    if next_version is not None and delay is not None:
        await enqueue_advance(ctx.queue, request_id, next_version, delay)


async def _claim(ctx: IssuerContext, request_id: UUID, owner: str, now: datetime) -> bool:
    lease = timedelta(seconds=ctx.settings.job_lease_seconds)
    stmt = (
        update(CertificateRequest)
        .where(
            CertificateRequest.id == request_id,
            CertificateRequest.status.in_(WORKED_STATUSES),
            or_(CertificateRequest.lease_until.is_(None), CertificateRequest.lease_until < now),
        )
        .values(lease_owner=owner, lease_until=now + lease, version=CertificateRequest.version + 1)
        .execution_options(synchronize_session=False)
    )
    async with ctx.sessions.begin() as session:
        result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)


async def _run_step(
    ctx: IssuerContext,
    session: AsyncSession,
    req: CertificateRequest,
    account: AcmeAccount,
    now: datetime,
) -> float | None:
    """Run the step for the request's status; on error, record a retry or the failure."""
    if req.retry_not_before is not None and req.retry_not_before > now:
        return (req.retry_not_before - now).total_seconds()
    try:
        key_pem = ctx.keyring.open(account.key_sealed, account.seal_context)
        acme = await ctx.acme.open(account.directory_url, key_pem, account.account_url)
        try:
            delay = await STEPS[req.status](Step(session, req, acme, ctx.keyring, now))
        finally:
            acme.close()
        req.attempts = 0
        req.retry_not_before = None
        return delay
    except AcmeError as exc:
        if not exc.retryable:
            return await _fail_now(session, req, exc, now)
        # Keep what the step learned before the CA failed (answered challenges, order
        # state): it is true at the CA, and the next try resumes from it.
        return _retry_later(req, exc, now)
    except Problem as exc:
        return await _fail_now(session, req, exc, now)
    except Exception as exc:
        logger.exception("request.step_crashed", extra={"request_id": str(req.id)})
        await _discard_changes(session, req)
        return _retry_later(req, Problem(f"internal error: {type(exc).__name__}"), now)


async def _discard_changes(session: AsyncSession, req: CertificateRequest) -> None:
    await session.rollback()
    await session.refresh(req)
    await session.commit()


def _retry_later(req: CertificateRequest, problem: Problem, now: datetime) -> float | None:
    req.attempts += 1
    req.last_error = problem.to_dict()
    if req.attempts > MAX_ATTEMPTS:
        fail_request(req, problem, now)
        return None
    delay = min(2.0**req.attempts, MAX_BACKOFF_SECONDS)
    retry_after = getattr(problem, "retry_after", None)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    req.retry_not_before = now + timedelta(seconds=delay)
    logger.warning(
        "request.retry_scheduled",
        extra={"request_id": str(req.id), "attempt": req.attempts, "delay": delay,
               "problem": problem.type_uri()},
    )
    return delay


async def _fail_now(
    session: AsyncSession, req: CertificateRequest, problem: Problem, now: datetime
) -> float | None:
    """Drop the step's partial changes and mark the request failed; nothing follows."""
    await _discard_changes(session, req)
    fail_request(req, problem, now)
    return None


async def _finish(
    session: AsyncSession, req: CertificateRequest, delay: float | None, now: datetime
) -> int | None:
    """Write the step's result and release the lease; ``None`` when fenced out."""
    req.lease_owner = None
    req.lease_until = None
    req.next_run_at = now + timedelta(seconds=delay) if delay is not None else None
    try:
        await session.commit()
    except StaleDataError:
        await session.rollback()
        logger.info("request.step_fenced", extra={"request_id": str(req.id)})
        return None
    return req.version
