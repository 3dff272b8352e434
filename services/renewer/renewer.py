"""One renewer pass, and the loop that sleeps until the next planned renewal.

A pass marks certificates past ``not_after`` ``expired``, claims the due ones with a lease
(one conditional UPDATE, so of many replicas exactly one takes each row): those whose
renewal time has come and those whose CA is to be asked for its renewal window (RFC 9773).
For each claimed certificate it asks the CA, if due, outside any transaction, then decides
in one short transaction conditional on still holding the lease: record the CA's window,
start a renewal request in its lineage, look again later at the one in flight, or, after a
failed one, wait out the backoff (1 min, 10 min, 100 min, then daily) and any rate-limit
retry time. A renewer killed mid-claim loses nothing: the lease runs out and
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
from typing import Protocol
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, Update, and_, func, or_, select, update

from shared.acme_ari import RenewalWindow
from shared.config import Settings
from shared.db import Sessions
from shared.db_errors import is_database_unavailable
from shared.domain import audit
from shared.domain.outbox import emit_renewal_failed
from shared.domain.renewal_time import renewal_backoff
from shared.domain.renewals import record_renewal_info, start_renewal, supersede
from shared.domain.requests import ring
from shared.domain.tokens import process_principal
from shared.errors import AcmeError
from shared.models import AcmeAccount, Certificate, CertificateRequest
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
# A CA that could not be asked for its renewal window is asked again after this long
# (meanwhile the certificate keeps its planned moment).
ARI_RETRY_AFTER_FAILURE = timedelta(hours=1)
# How many CAs' windows are fetched at once within a claimed batch.
ARI_CONCURRENCY = 8


class RenewalAdvice(Protocol):
    """Where the CA's renewal windows come from (``AcmeClients`` in a process)."""

    async def renewal_info(self, directory_url: str, chain_pem: str) -> RenewalWindow | None: ...


class _NotAsked:
    """The CA was not asked this pass (its window was not due)."""


NOT_ASKED = _NotAsked()
Answer = RenewalWindow | None | AcmeError | _NotAsked

RENEWER = process_principal("renewer")  # the actor of the renewals it starts


@dataclass
class Renewer:
    settings: Settings
    sessions: Sessions
    queue: JobQueue
    advice: RenewalAdvice
    clock: Callable[[], datetime] = field(default=utcnow)
    owner: str = field(default_factory=lambda: f"renewer:{uuid4()}")

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.job_lease_seconds)


def _due(now: datetime) -> list[ColumnElement[bool]]:
    """Renewing and claimable: its renewal time has come or its CA is to be asked."""
    return [
        Certificate.status == CertificateStatus.ACTIVE,
        Certificate.auto_renew.is_(True),
        or_(Certificate.renewal_at <= now, Certificate.ari_check_at <= now),
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


def claim_statement(owner: str, now: datetime, lease: timedelta) -> Update:
    """Lease up to ``CLAIM_BATCH`` due certificates to ``owner``, returning each id and
    whether its CA is to be asked for a window. The lease condition is in the UPDATE
    itself: a replica that lost the race finds it false and skips the row."""
    due = select(Certificate.id).where(*_due(now)).limit(CLAIM_BATCH)
    return (
        update(Certificate)
        .where(Certificate.id.in_(due.scalar_subquery()), *_due(now))
        .values(renewal_lease_owner=owner, renewal_lease_until=now + lease)
        .returning(Certificate.id, and_(
            Certificate.ari_check_at.is_not(None), Certificate.ari_check_at <= now
        ))
        .execution_options(synchronize_session=False)
    )


async def claim_due(renewer: Renewer, now: datetime) -> list[tuple[UUID, bool]]:
    """One batch of due certificates leased to this renewer (see :func:`claim_statement`)."""
    stmt = claim_statement(renewer.owner, now, renewer.lease)
    async with renewer.sessions.begin() as session:
        return [(row[0], bool(row[1])) for row in (await session.execute(stmt)).all()]


async def ask_ca(renewer: Renewer, certificate_id: UUID) -> Answer:
    """The CA's renewal window for the certificate: one GET, no transaction open. An
    error is the answer (the decision records it); nothing here raises for the CA."""
    async with renewer.sessions() as session:
        row = (await session.execute(
            select(Certificate.chain_pem, AcmeAccount.directory_url)
            .join(AcmeAccount, AcmeAccount.id == Certificate.acme_account_id)
            .where(Certificate.id == certificate_id)
        )).one_or_none()
    if row is None:
        return NOT_ASKED
    try:
        return await renewer.advice.renewal_info(row.directory_url, row.chain_pem)
    except AcmeError as exc:
        return exc


async def decide(
    renewer: Renewer, certificate_id: UUID, now: datetime, answer: Answer = NOT_ASKED
) -> CertificateRequest | None:
    """Act on one claimed certificate; returns a renewal request to ring, if one was made.
    The write is conditional on the lease (the row's ``renewal_lease_owner``, re-read in
    the same transaction that writes): a renewer whose lease was taken over writes nothing."""
    async with renewer.sessions() as session:
        cert = await session.get(Certificate, certificate_id, with_for_update=True)
        if cert is None or cert.renewal_lease_owner != renewer.owner:
            return None
        cert.renewal_lease_owner = cert.renewal_lease_until = None
        _record_answer(cert, answer, now)
        started = None
        previous = None
        if cert.renewal_request_id is not None:
            previous = await session.get(CertificateRequest, cert.renewal_request_id)
        if cert.status is not CertificateStatus.ACTIVE or not cert.auto_renew:
            pass  # revoked, renewed or turned off since the claim: never renewed
        elif previous is None:
            if cert.renewal_at is not None and cert.renewal_at <= now:
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
            emit_renewal_failed(session, cert, now)
        await session.commit()
        return started


def _record_answer(cert: Certificate, answer: Answer, now: datetime) -> None:
    if isinstance(answer, AcmeError):
        cert.ari_check_at = now + ARI_RETRY_AFTER_FAILURE
        logger.warning("renewal.ari_unavailable", extra={
            "certificate_id": str(cert.id), "error": answer.detail,
        })
    elif not isinstance(answer, _NotAsked):
        record_renewal_info(cert, cert.lineage, answer, now)
    elif cert.ari_check_at is not None and cert.ari_check_at <= now:
        cert.ari_check_at = now + ARI_RETRY_AFTER_FAILURE  # claimed, but its CA not asked


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
    """One pass: expire, claim, ask the CAs whose windows are due, decide, ring. Returns
    how many renewals were started."""
    now = renewer.clock()
    await expire(renewer, now)
    started = 0
    limit = asyncio.Semaphore(ARI_CONCURRENCY)

    async def answer(certificate_id: UUID, ask: bool) -> Answer:
        if not ask:
            return NOT_ASKED
        async with limit:
            return await ask_ca(renewer, certificate_id)

    while claimed := await claim_due(renewer, now):
        answers = await asyncio.gather(*(answer(*claim) for claim in claimed))
        for (certificate_id, _ask), answered in zip(claimed, answers, strict=True):
            request = await decide(renewer, certificate_id, now, answered)
            if request is not None:
                started += 1
                logger.info("renewal.started", extra={
                    "certificate_id": str(certificate_id), "request_id": str(request.id),
                })
                await ring(renewer.queue, request)
    return started


async def next_renewal(renewer: Renewer) -> datetime | None:
    """The earliest planned renewal, window check or expiry of an active certificate
    (three indexed reads)."""
    renewing = (Certificate.status == CertificateStatus.ACTIVE,
                Certificate.auto_renew.is_(True))
    async with renewer.sessions() as session:
        moments = [
            await session.scalar(select(func.min(Certificate.renewal_at)).where(*renewing)),
            await session.scalar(select(func.min(Certificate.ari_check_at)).where(*renewing)),
            await session.scalar(select(func.min(Certificate.not_after)).where(
                Certificate.status == CertificateStatus.ACTIVE
            )),
        ]
    found = [m for m in moments if m is not None]
    return min(found) if found else None


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
