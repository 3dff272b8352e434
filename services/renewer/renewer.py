"""One renewer pass, and the loop that sleeps until the next planned renewal.

A pass marks certificates past ``not_after`` ``expired``, claims the due ones with a lease
(one conditional UPDATE, so of many replicas exactly one takes each row), and for each
claimed certificate decides, in one short transaction conditional on still holding the
lease: start a renewal request in its lineage, look again later at the one in flight, or,
after a failed one, wait out the backoff (1 min, 10 min, 100 min, then daily) and any
rate-limit retry time. A renewer killed mid-claim loses nothing: the lease runs out and
the next pass takes the row again. A request created but never rung is rung by the
issuer's sweeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, func, or_, select, update

from shared.config import Settings
from shared.db import Sessions
from shared.db_errors import is_database_unavailable
from shared.domain import audit
from shared.domain.renewal_time import renewal_backoff
from shared.domain.renewals import start_renewal, supersede
from shared.domain.requests import ring
from shared.domain.tokens import process_principal
from shared.models import Certificate, CertificateRequest
from shared.models.base import utcnow
from shared.queue import QUEUE_ERRORS, JobQueue
from shared.states import CertificateStatus, RequestStatus

logger = logging.getLogger(__name__)

CLAIM_BATCH = 100
# While a renewal request is in flight, look at it again this often (a person may take
# days over a manual one: it waits in awaiting_manual_validation, checked hourly).
IN_FLIGHT_RECHECK = timedelta(minutes=1)
MANUAL_RECHECK = timedelta(hours=1)
# How often a sleeping renewer re-reads the earliest planned renewal (one indexed MIN).
WAKE_POLL_SECONDS = 5.0
# A pause after each pass, so rows another replica holds leased are not polled in a loop.
PASS_PAUSE_SECONDS = 1.0

RENEWER = process_principal("renewer")  # the actor of the renewals it starts


@dataclass
class Renewer:
    settings: Settings
    sessions: Sessions
    queue: JobQueue
    clock: Callable[[], datetime] = field(default=utcnow)
    owner: str = field(default_factory=lambda: f"renewer:{uuid4()}")

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.job_lease_seconds)


def _due(now: datetime) -> list[ColumnElement[bool]]:
    return [
        Certificate.status == CertificateStatus.ACTIVE,
        Certificate.auto_renew.is_(True),
        Certificate.renewal_at <= now,
        or_(Certificate.renewal_lease_until.is_(None), Certificate.renewal_lease_until < now),
    ]


async def expire(renewer: Renewer, now: datetime) -> int:
    """Active certificates past ``not_after`` become ``expired``."""
    async with renewer.sessions.begin() as session:
        result = await session.execute(
            update(Certificate)
            .where(Certificate.status == CertificateStatus.ACTIVE, Certificate.not_after <= now)
            .values(status=CertificateStatus.EXPIRED, renewal_at=None)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def claim_due(renewer: Renewer, now: datetime) -> list[UUID]:
    """Lease up to ``CLAIM_BATCH`` due certificates to this renewer. The lease condition is
    in the UPDATE itself: a replica that lost the race finds it false and skips the row."""
    due = select(Certificate.id).where(*_due(now)).order_by(Certificate.renewal_at)
    stmt = (
        update(Certificate)
        .where(Certificate.id.in_(due.limit(CLAIM_BATCH).scalar_subquery()), *_due(now))
        .values(renewal_lease_owner=renewer.owner, renewal_lease_until=now + renewer.lease)
        .returning(Certificate.id)
        .execution_options(synchronize_session=False)
    )
    async with renewer.sessions.begin() as session:
        return list((await session.scalars(stmt)).all())


async def decide(
    renewer: Renewer, certificate_id: UUID, now: datetime
) -> CertificateRequest | None:
    """Act on one claimed certificate; returns a renewal request to ring, if one was made.
    The write is conditional on the lease (the row's ``renewal_lease_owner``, re-read in
    the same transaction that writes): a renewer whose lease was taken over writes nothing."""
    async with renewer.sessions() as session:
        cert = await session.get(Certificate, certificate_id, with_for_update=True)
        if cert is None or cert.renewal_lease_owner != renewer.owner:
            return None
        cert.renewal_lease_owner = cert.renewal_lease_until = None
        started = None
        previous = None
        if cert.renewal_request_id is not None:
            previous = await session.get(CertificateRequest, cert.renewal_request_id)
        if cert.status is not CertificateStatus.ACTIVE or not cert.auto_renew:
            pass  # revoked, renewed or turned off since the claim: never renewed
        elif previous is None:
            started = start_renewal(session, cert, now, RENEWER)
            audit.record(session, RENEWER, "certificate.renewal_requested", "certificate",
                         cert.id, request_id=str(started.id))
            cert.renewal_at = now + IN_FLIGHT_RECHECK
        elif not previous.status.is_final:
            manual = previous.status is RequestStatus.AWAITING_MANUAL_VALIDATION
            cert.renewal_at = now + (MANUAL_RECHECK if manual else IN_FLIGHT_RECHECK)
        elif previous.status is RequestStatus.ISSUED and previous.certificate_id is not None:
            await supersede(session, cert.id, previous.certificate_id)
        else:
            _failed(cert, previous, now)
        await session.commit()
        return started


def _failed(cert: Certificate, previous: CertificateRequest, now: datetime) -> None:
    """Record the failed renewal on the certificate and wait: the backoff after this many
    failures in a row, and at least until the CA's rate-limit retry time."""
    cert.renewal_attempts += 1
    cert.renewal_error = previous.error or {"detail": f"renewal request {previous.status}"}
    cert.renewal_request_id = None
    ended = previous.finished_at or now
    retry = ended + renewal_backoff(cert.renewal_attempts)
    if previous.retry_not_before is not None:
        retry = max(retry, previous.retry_not_before)
    cert.renewal_at = max(retry, now)
    logger.warning("renewal.failed", extra={
        "certificate_id": str(cert.id), "attempts": cert.renewal_attempts,
        "retry_at": cert.renewal_at.isoformat(),
    })


async def renew_once(renewer: Renewer) -> int:
    """One pass: expire, claim, decide, ring. Returns how many renewals were started."""
    now = renewer.clock()
    await expire(renewer, now)
    started = 0
    while claimed := await claim_due(renewer, now):
        for certificate_id in claimed:
            request = await decide(renewer, certificate_id, now)
            if request is not None:
                started += 1
                logger.info("renewal.started", extra={
                    "certificate_id": str(certificate_id), "request_id": str(request.id),
                })
                await ring(renewer.queue, request)
    return started


async def next_renewal(renewer: Renewer) -> datetime | None:
    """The earliest planned renewal or expiry of an active certificate (an indexed read)."""
    async with renewer.sessions() as session:
        renewal = await session.scalar(
            select(func.min(Certificate.renewal_at)).where(
                Certificate.status == CertificateStatus.ACTIVE, Certificate.auto_renew.is_(True)
            )
        )
        expiry = await session.scalar(
            select(func.min(Certificate.not_after)).where(
                Certificate.status == CertificateStatus.ACTIVE
            )
        )
    moments = [m for m in (renewal, expiry) if m is not None]
    return min(moments) if moments else None


async def run_renewer(renewer: Renewer, stop: asyncio.Event) -> None:
    """Pass, then sleep until the next planned renewal (at most
    ``RENEWER_MAX_SLEEP_SECONDS``). While asleep, the earliest planned moment is re-read
    every ``WAKE_POLL_SECONDS``: a certificate stored or changed by any process (an issuer
    elsewhere, a PATCH on another API replica) that moves it earlier wakes the renewer."""
    while not stop.is_set():
        try:
            await renew_once(renewer)
        except Exception as exc:
            _log_failure(exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=PASS_PAUSE_SECONDS)
        await _sleep_until_due(renewer, stop)


async def _sleep_until_due(renewer: Renewer, stop: asyncio.Event) -> None:
    deadline = renewer.clock() + timedelta(seconds=renewer.settings.renewer_max_sleep_seconds)
    while not stop.is_set():
        try:
            upcoming = await next_renewal(renewer)
        except Exception as exc:
            _log_failure(exc)
            upcoming = None
        now = renewer.clock()
        wake = deadline if upcoming is None else min(deadline, upcoming)
        if wake <= now:
            return
        pause = min((wake - now).total_seconds(), WAKE_POLL_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)


def _log_failure(exc: Exception) -> None:
    """An outage is expected and said in one line; anything else keeps its traceback."""
    if isinstance(exc, QUEUE_ERRORS) or is_database_unavailable(exc):
        logger.warning("renewer.unavailable", extra={"error": type(exc).__name__})
    else:
        logger.exception("renewer.failed")
