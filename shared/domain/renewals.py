"""Renewal on the certificate side: its planned time, the renewal request made from its
lineage, the hand-over from an old certificate to its successor, and what an operator may
change (``auto_renew``, ``renew_before_seconds``)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.acme_ari import RenewalWindow
from shared.domain import audit, outbox
from shared.domain.certificates import get_certificate
from shared.domain.renewal_time import AriWindow, renewal_time
from shared.domain.requests import WrittenHook, request_of, written
from shared.domain.tokens import Principal
from shared.errors import Conflict
from shared.models import Certificate, CertificateRequest, Lineage
from shared.models.notifications import EventType
from shared.states import CertificateStatus


def plan_renewal(cert: Certificate, lineage: Lineage, now: datetime) -> None:
    """Set the certificate's renewal time from its lifetime, the CA's last known window
    (a new uniformly random moment inside it) and the lineage's override."""
    before = lineage.renew_before_seconds
    cert.renewal_at, cert.renewal_source = renewal_time(
        cert.not_before, cert.not_after, now,
        renew_before=None if before is None else timedelta(seconds=before),
        ari=known_window(cert),
        draw=random.random(),  # noqa: S311 - spreads renewals over the window, no secret
    )


def plan_new_certificate(cert: Certificate, lineage: Lineage, now: datetime, *,
                         ca_has_ari: bool) -> None:
    """A certificate just stored: planned from its lifetime, and, when its CA's directory
    lists ``renewalInfo``, the CA asked for a window on the renewer's next pass. A CA
    without it is not asked at all (the renewer would only learn what the directory says)."""
    plan_renewal(cert, lineage, now)
    cert.ari_check_at = now if cert.auto_renew and ca_has_ari else None


def known_window(cert: Certificate) -> AriWindow | None:
    if cert.ari_window_start is None or cert.ari_window_end is None:
        return None
    return AriWindow(cert.ari_window_start, cert.ari_window_end)


def record_renewal_info(
    cert: Certificate, lineage: Lineage, answer: RenewalWindow | None, now: datetime
) -> None:
    """The CA's answer to "when should this be renewed?" (RFC 9773): ask again after its
    Retry-After; a window that moved gets a new random moment, one that did not keeps the
    moment drawn before (asking again must not re-roll the dice). ``None``: the CA has no
    ARI, and is not asked again for this certificate."""
    if answer is None:
        cert.ari_check_at = None
        return
    cert.ari_check_at = now + timedelta(seconds=answer.retry_after_seconds)
    window = AriWindow(answer.start, answer.end)
    if window != known_window(cert):
        cert.ari_window_start, cert.ari_window_end = window.start, window.end
        if cert.renewal_request_id is None:
            plan_renewal(cert, lineage, now)


async def supersede(session: AsyncSession, old_id: UUID, new_id: UUID) -> bool:
    """The old certificate, if still active, is ``renewed`` by the new one (and
    ``certificate.renewed`` is told, in the same transaction). True if it was."""
    result = await session.execute(
        update(Certificate)
        .where(Certificate.id == old_id, Certificate.status == CertificateStatus.ACTIVE)
        .values(status=CertificateStatus.RENEWED, replaced_by_id=new_id, renewal_at=None)
        .execution_options(synchronize_session=False)
    )
    new = await session.get(Certificate, new_id) if getattr(result, "rowcount", 0) else None
    if new is not None:
        outbox.emit(session, EventType.CERTIFICATE_RENEWED, certificate=new,
                    replaces_certificate_id=str(old_id))
    return new is not None


def start_renewal(
    session: AsyncSession, cert: Certificate, now: datetime, actor: Principal
) -> CertificateRequest:
    """A new request in the certificate's lineage that replaces it (the caller commits and
    rings the issuer). The certificate remembers it, so it is not started twice."""
    request = request_of(cert.lineage, created_by=actor, replaces_certificate_id=cert.id)
    request.id = uuid4()
    request.next_run_at = now
    session.add(request)
    cert.renewal_request_id = request.id
    cert.ari_check_at = None  # its successor is asked about its own window
    return request


async def renew_now(
    session: AsyncSession, certificate_id: UUID, now: datetime, actor: Principal, *,
    before_commit: WrittenHook | None = None,
) -> CertificateRequest:
    """``POST /v1/certificates/{id}/renew``: an active certificate gets a renewal request now,
    unless one is already in flight (409)."""
    cert = await get_certificate(session, certificate_id, actor.domains)
    if cert.status is not CertificateStatus.ACTIVE:
        raise Conflict(f"the certificate is {cert.status}; only an active one is renewed")
    if cert.renewal_request_id is not None:
        pending = await session.get(CertificateRequest, cert.renewal_request_id)
        if pending is not None and not pending.status.is_final:
            raise Conflict(f"renewal request {pending.id} is already {pending.status}")
    request = start_renewal(session, cert, now, actor)
    audit.record(session, actor, "certificate.renewal_requested", "certificate", cert.id,
                 request_id=str(request.id))
    await written(session, request, before_commit)
    await session.commit()
    return request


async def change_renewal(
    session: AsyncSession, certificate_id: UUID, now: datetime, actor: Principal, *,
    auto_renew: bool | None, renew_before_seconds: int | None, clear_renew_before: bool,
) -> Certificate:
    """``PATCH /v1/certificates/{id}``: change the lineage's wish and re-plan the renewal."""
    cert = await get_certificate(session, certificate_id, actor.domains)
    lineage = cert.lineage
    if auto_renew is not None:
        lineage.auto_renew = cert.auto_renew = auto_renew
    if renew_before_seconds is not None or clear_renew_before:
        lineage.renew_before_seconds = renew_before_seconds
    if cert.status is CertificateStatus.ACTIVE and cert.renewal_request_id is None:
        plan_renewal(cert, lineage, now)
    audit.record(session, actor, "certificate.updated", "certificate", cert.id,
                 auto_renew=lineage.auto_renew, renew_before_seconds=lineage.renew_before_seconds)
    await session.commit()
    await session.refresh(cert)
    return cert

