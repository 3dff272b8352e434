"""The outbox: an event is a row added to the session of the state change that causes it,
so it is committed with that change or not at all (never derived from log lines). The
notifier reads the rows and turns each into deliveries.

Each event carries a snapshot of what its messages show (names, serial, expiry, issuer, the
problem), so it reads the same after the certificate is deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Certificate, CertificateRequest, NotificationEvent
from shared.models.base import utcnow
from shared.models.notifications import EventType
from shared.states import RequestStatus


def certificate_snapshot(cert: Certificate) -> dict[str, Any]:
    return {
        "certificate_id": str(cert.id),
        "common_name": cert.common_name,
        "names": list(cert.names),
        "serial": cert.serial,
        "issuer": cert.issuer,
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "status": cert.status.value,
        "acme_account_id": str(cert.acme_account_id),
    }


def request_snapshot(req: CertificateRequest) -> dict[str, Any]:
    return {
        "request_id": str(req.id),
        "common_name": req.common_name,
        "names": list(req.names),
        "status": req.status.value,
        "validation": req.validation.value,
        "challenge_type": req.challenge_type.value,
        "acme_account_id": str(req.acme_account_id),
        "replaces_certificate_id": (None if req.replaces_certificate_id is None
                                    else str(req.replaces_certificate_id)),
    }


def emit(
    session: AsyncSession,
    event_type: EventType,
    *,
    certificate: Certificate | None = None,
    request: CertificateRequest | None = None,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
    **details: Any,
) -> NotificationEvent:
    """Add one event to ``session``; it is written when the caller commits its change."""
    data: dict[str, Any] = {}
    if request is not None:
        data.update(request_snapshot(request))
    if certificate is not None:
        data.update(certificate_snapshot(certificate))
    data.update(details)
    event = NotificationEvent(
        id=uuid4(), type=event_type,
        certificate_id=certificate.id if certificate is not None else None,
        request_id=request.id if request is not None else None,
        occurred_at=occurred_at or utcnow(), data=data, dedupe_key=dedupe_key,
    )
    session.add(event)
    return event


def emit_renewal_failed(session: AsyncSession, cert: Certificate, now: datetime) -> None:
    """A renewal request of ``cert`` failed (the renewer has recorded it on the row)."""
    emit(session, EventType.RENEWAL_FAILED, certificate=cert, occurred_at=now,
         problem=cert.renewal_error, attempts=cert.renewal_attempts,
         retry_at=None if cert.renewal_at is None else cert.renewal_at.isoformat())


def emit_request_ended(session: AsyncSession, req: CertificateRequest, now: datetime) -> None:
    """A request that has just failed tells about it; any other status says nothing."""
    if req.status is RequestStatus.FAILED:
        emit(session, EventType.REQUEST_FAILED, request=req, occurred_at=now, problem=req.error)
