"""A job's lease on its request: taken with one conditional UPDATE, kept alive while the
job works.

The lease keeps a second job out while one works a request, and lets the sweeper take over
the work of a job that died. A job that is alive but slow (waiting for a key behind a burst
of RSA-4096 keys, or for a slow CA) must not lose it: another job would start the same step,
make the same key again, and queue behind the same burst. So while a step runs, the lease
is renewed every third of its length. Renewal is conditional on the owner and never touches
the version, so it neither takes back a lease another job holds nor hides a cancel from the
job's version fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Update, bindparam, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.issuer.context import IssuerContext
from shared.db_errors import DATABASE_ERRORS
from shared.models import CertificateRequest
from shared.states import RequestStatus

logger = logging.getLogger(__name__)


async def claim(
    ctx: IssuerContext, session: AsyncSession, request_id: UUID, owner: str, now: datetime,
    *, statuses: Collection[RequestStatus], fence: bool,
) -> bool:
    """Take the lease of a request in one of ``statuses`` that no job holds, in the
    session's transaction: the caller reads the row in the same transaction and commits,
    one round of BEGIN and COMMIT for both. With ``fence`` the claim also moves the version
    on, so a job that still works the row (whose lease lapsed) is fenced out of its next
    write."""
    lease = timedelta(seconds=ctx.settings.job_lease_seconds)
    connection = await session.connection()
    result = await connection.execute(_CLAIM_FENCED if fence else _CLAIM, {
        "request_id": request_id, "statuses": list(statuses), "now": now,
        "owner": owner, "until": now + lease,
    })
    return result.rowcount == 1


def _claim_statement(*, fence: bool) -> Update:
    """The claim as a Core statement, built once and run on the session's connection: the
    ORM's UPDATE, built and run per claim, cost 0.85 ms of CPU more each time, 1.5 % of a
    certificate's."""
    values: dict[str, Any] = {"lease_owner": bindparam("owner"),
                              "lease_until": bindparam("until")}
    if fence:
        values["version"] = CertificateRequest.version + 1
    now = bindparam("now", type_=CertificateRequest.lease_until.type)
    return (
        update(CertificateRequest)
        .where(
            CertificateRequest.id == bindparam("request_id"),
            CertificateRequest.status.in_(bindparam("statuses", expanding=True)),
            or_(CertificateRequest.lease_until.is_(None), CertificateRequest.lease_until < now),
        )
        .values(**values)
    )


_CLAIM = _claim_statement(fence=False)
_CLAIM_FENCED = _claim_statement(fence=True)


@contextlib.asynccontextmanager
async def lease_kept(ctx: IssuerContext, request_id: UUID, owner: str) -> AsyncIterator[None]:
    """Renew ``owner``'s lease on the request until the block ends."""
    renewing = asyncio.create_task(_renew(ctx, request_id, owner), name=f"lease:{request_id}")
    try:
        yield
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing


async def _renew(ctx: IssuerContext, request_id: UUID, owner: str) -> None:
    lease = timedelta(seconds=ctx.settings.job_lease_seconds)
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        stmt = (
            update(CertificateRequest)
            .where(CertificateRequest.id == request_id, CertificateRequest.lease_owner == owner)
            .values(lease_until=ctx.clock() + lease)
            .execution_options(synchronize_session=False)
        )
        try:
            async with ctx.sessions.begin() as session:
                result = await session.execute(stmt)
        except DATABASE_ERRORS as exc:  # the step will meet the outage itself
            logger.warning("request.lease_renewal_failed",
                           extra={"request_id": str(request_id), "error": type(exc).__name__})
            continue
        if getattr(result, "rowcount", 0) != 1:
            return  # released, or taken over: nothing of ours to keep
