"""The issuer's job: advance one certificate request by one step.

Jobs carry only the request id and are safe to run twice. A job first *claims* the row (a
lease, so a duplicate job returns at once), reads it, talks to the CA outside any database
transaction, then writes the result in one short transaction. The row's version (bumped by
the claim and checked by the ORM on every write) fences out a job whose row changed under
it, e.g. a request cancelled mid-step; the next job id is named after the new version.

Every way a step can end is written down: a result, a retry, a failure, or, when the
write itself fails, a counted attempt recorded in a transaction of its own.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.issuer.cleanup import needs_cleanup
from services.issuer.context import Fence, Fenced, IssuerContext, Step, issuer_of
from services.issuer.lease import claim, lease_kept
from services.issuer.outcomes import fail_request, retry_later
from services.issuer.steps import STEPS
from shared import metrics
from shared.domain.outbox import emit_request_ended
from shared.domain.requests import enqueue_advance, enqueue_cleanup
from shared.errors import AcmeError, Problem
from shared.models import AcmeAccount, CertificateRequest
from shared.states import RequestStatus

logger = logging.getLogger(__name__)

WORKED_STATUSES = [s for s in RequestStatus if s.is_worked]


async def advance_request(ctx: dict[str, Any], request_id: str) -> None:
    """arq / in-process entry point."""
    await advance(issuer_of(ctx), UUID(request_id))


async def advance(ctx: IssuerContext, request_id: UUID) -> None:
    now, owner = ctx.clock(), uuid4().hex
    async with ctx.sessions() as session:
        claimed = await _claim(ctx, session, request_id, owner, now)
        if claimed is None:
            return
        try:
            async with lease_kept(ctx, request_id, owner):
                outcome = await _step(ctx, *claimed, now)
        except Fenced:
            logger.info("request.step_fenced", extra={"request_id": str(request_id)})
            return
    if outcome.delay is not None:
        await enqueue_advance(ctx.queue, request_id, outcome.version, outcome.delay)
    if outcome.cleanup:
        await enqueue_cleanup(ctx.queue, request_id)



class Outcome(NamedTuple):
    version: int  # the row's version once the step's result is written
    delay: float | None  # before the next step; None: no next step now
    cleanup: bool  # the request ended with DNS records to remove


async def _claim(
    ctx: IssuerContext, session: AsyncSession, request_id: UUID, owner: str, now: datetime
) -> tuple[Fence, AcmeAccount] | None:
    """Claim the request and read it and its account, in one transaction; None when
    another job holds it or it needs no work."""
    claimed = await claim(ctx, session, request_id, owner, now, statuses=WORKED_STATUSES,
                          fence=True)
    row = None
    if claimed:
        row = (await session.execute(_READ_CLAIMED, {"request_id": request_id})).one_or_none()
    await session.commit()
    if row is None:
        return None
    req, account = row
    return Fence(session, req, req.version), account


# The claimed request and its account, in one statement.
_READ_CLAIMED = (
    select(CertificateRequest, AcmeAccount)
    .join(AcmeAccount, AcmeAccount.id == CertificateRequest.acme_account_id)
    .where(CertificateRequest.id == bindparam("request_id"))
)


async def _step(ctx: IssuerContext, fence: Fence, account: AcmeAccount, now: datetime
                ) -> Outcome:
    """Run the step and write its result."""
    request_id = fence.request.id
    try:
        delay = await _run_step(ctx, fence, account, now)
        version = await _finish(fence, delay, now)
        _count_issued(fence.request, ctx.clock())
        return Outcome(version, delay, needs_cleanup(fence.request))
    except Fenced:
        raise
    except Exception as exc:
        _log_crash(request_id, exc)
        await fence.session.rollback()
        problem = Problem(f"internal error: {type(exc).__name__}")
    return await _record_on_fresh_row(ctx, request_id, fence.version, now, problem)


async def _run_step(
    ctx: IssuerContext, fence: Fence, account: AcmeAccount, now: datetime
) -> float | None:
    """Run the step for the request's status; a CA error or problem becomes a retry or
    the failure. Anything else propagates: the caller counts it as a failed try."""
    req = fence.request
    if req.retry_not_before is not None and req.retry_not_before > now:
        return (req.retry_not_before - now).total_seconds()
    req.retry_not_before = None
    try:
        key_pem = ctx.keyring.open(account.key_sealed, account.seal_context)
        acme = await ctx.acme.open(account.directory_url, key_pem, account.account_url)
        try:
            step = Step(fence, acme, ctx.keyring, now, ctx.settings, ctx.dns, ctx.clock,
                        ctx.pace)
            delay = await STEPS[req.status](step)
            while delay == 0 and req.status in STEPS:
                # The next step may start at once (an order just placed): go on in the same
                # job rather than a round trip through the queue. This step's writes go in
                # the next one's first commit, which every step makes before it calls out
                # (and before that, no transaction is open: the ORM begins one only when
                # it reads or flushes).
                delay = await STEPS[req.status](step)
        finally:
            acme.close()
        req.attempts = 0
        return delay
    except Problem as exc:
        if exc.retryable or await _account_key_moved(ctx, account, exc):
            # Keep what the step learned before the CA or DNS failed (answered challenges,
            # order state, records presented): it is true out there, and the next try
            # resumes from it.
            return retry_later(req, exc, now)
        await _fail_now(fence, exc, now)
    return None


async def _account_key_moved(ctx: IssuerContext, account: AcmeAccount, exc: Problem) -> bool:
    """The CA refused a request signed with the key this step loaded while the account's key
    was being rolled over (or has been since): not final, the next try signs with the new
    key. So an order in flight survives a key rollover."""
    if not isinstance(exc, AcmeError):
        return False
    async with ctx.sessions() as session:
        row = (await session.execute(
            select(AcmeAccount.key_sealed, AcmeAccount.pending_key_sealed)
            .where(AcmeAccount.id == account.id)
        )).one_or_none()
    return row is not None and (row[0] != account.key_sealed or row[1] is not None)


async def _fail_now(fence: Fence, problem: Problem, now: datetime) -> None:
    """Drop the step's unwritten changes (what it committed stays) and fail the request."""
    await fence.session.rollback()
    await fence.session.refresh(fence.request)
    if fence.request.version != fence.version:
        raise Fenced("the request changed under the job")
    fail_request(fence.request, problem, now)


async def _finish(fence: Fence, delay: float | None, now: datetime) -> int:
    """Write the step's result and release the lease; :class:`Fenced` if the row moved."""
    req = fence.request
    req.lease_owner = None
    req.lease_until = None
    req.next_run_at = now + timedelta(seconds=delay) if delay is not None else None
    emit_request_ended(fence.session, req, now)
    await fence.commit()
    return fence.version


async def _record_on_fresh_row(
    ctx: IssuerContext, request_id: UUID, version: int, now: datetime, problem: Problem
) -> Outcome:
    """The step's own writes failed, so count the try in a short transaction of its own:
    the request ends failed after the limit instead of being tried (and perhaps ordered)
    forever. Fenced if the row moved on since the job last wrote it."""
    async with ctx.sessions() as session:
        req = await session.get(CertificateRequest, request_id)
        if req is None or req.version != version:
            raise Fenced("the request changed under the job")
        fence = Fence(session, req, version)
        delay = retry_later(req, problem, now)
        return Outcome(await _finish(fence, delay, now), delay, needs_cleanup(req))


def _count_issued(req: CertificateRequest, now: datetime) -> None:
    """Once the step that stored the certificate is committed: how long issuance took."""
    if req.status is RequestStatus.ISSUED:
        metrics.ISSUANCE_DURATION.observe(max(0.0, (now - req.created_at).total_seconds()))


def _log_crash(request_id: UUID, exc: Exception) -> None:
    """A database error's text carries the statement's parameters (sealed keys, tokens):
    log only its class. Any other error is a bug: log its traceback."""
    metrics.JOB_FAILURES.labels(job="advance").inc()
    extra = {"request_id": str(request_id), "error": type(exc).__name__}
    if isinstance(exc, SQLAlchemyError):
        logger.error("request.write_failed", extra=extra)
    else:
        logger.exception("request.step_crashed", extra=extra)
