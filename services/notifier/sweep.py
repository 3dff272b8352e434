"""The sweep: events no state change causes. ``certificate.expiring`` once per active
certificate and threshold (the most urgent one crossed; a renewed, revoked or expired
certificate is no longer active, so it stops alerting), and ``renewal.overdue`` once per
planned renewal time that has passed by the margin with no successor (the renewer stopped,
a DNS account died). Each event has a unique key, so repeated sweeps and concurrent
notifiers write it once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only, raiseload

from services.notifier.context import Notifier
from services.notifier.store import insert_new
from shared.domain.notifications import (
    DEFAULT_THRESHOLDS_DAYS,
    crossed_threshold,
    days_left,
    is_overdue,
)
from shared.domain.outbox import certificate_snapshot
from shared.models import Certificate, NotificationEvent, NotificationRule
from shared.models.notifications import EventType
from shared.states import CertificateStatus

logger = logging.getLogger(__name__)

# What the sweep reads of a certificate: the snapshot and the planning, not the chain, the
# sealed key or the lineage.
_LIGHT = (
    load_only(Certificate.id, Certificate.common_name, Certificate.names, Certificate.serial,
              Certificate.issuer, Certificate.not_before, Certificate.not_after,
              Certificate.status, Certificate.acme_account_id, Certificate.auto_renew,
              Certificate.renewal_at, Certificate.replaced_by_id, raiseload=True),
    raiseload(Certificate.lineage),
)


async def thresholds_in_use(session: AsyncSession) -> set[int]:
    """The defaults (what account contacts hear) and every enabled rule's thresholds."""
    rules = (await session.scalars(
        select(NotificationRule).where(NotificationRule.enabled.is_(True)))).all()
    found = set(DEFAULT_THRESHOLDS_DAYS)
    for rule in rules:
        found.update(rule.expiry_thresholds_days)
    return found


def _event_row(kind: EventType, cert: Certificate, now: datetime, key: str,
               **details: Any) -> dict[str, Any]:
    return {"id": uuid4(), "type": kind, "certificate_id": cert.id, "request_id": None,
            "occurred_at": now, "data": {**certificate_snapshot(cert), **details},
            "dedupe_key": key, "fanned_out_at": None}


def _time_left(cert: Certificate, now: datetime) -> dict[str, int]:
    return {"days_left": days_left(cert.not_after, now),
            "seconds_left": int((cert.not_after - now).total_seconds())}


async def sweep(notifier: Notifier, now: datetime) -> int:
    """Write the expiry and overdue events due at ``now``; returns how many were new."""
    async with notifier.sessions() as session:
        thresholds = await thresholds_in_use(session)
        horizon = now + timedelta(days=max(thresholds))
        certs = (await session.scalars(select(Certificate).options(*_LIGHT).where(
            Certificate.status == CertificateStatus.ACTIVE, Certificate.not_after <= horizon,
            Certificate.not_after > now))).all()
        rows = []
        for cert in certs:
            crossed = crossed_threshold(cert.not_after, now, thresholds, notifier.overdue_margin)
            if crossed is not None:
                rows.append(_event_row(
                    EventType.CERTIFICATE_EXPIRING, cert, now,
                    f"certificate.expiring:{cert.id}:{crossed}",
                    threshold_days=crossed, **_time_left(cert, now)))
        overdue = (await session.scalars(select(Certificate).options(*_LIGHT).where(
            Certificate.status == CertificateStatus.ACTIVE, Certificate.auto_renew.is_(True),
            Certificate.replaced_by_id.is_(None), Certificate.renewal_at <= now,
            Certificate.not_after > now))).all()
        for cert in overdue:
            if cert.renewal_at is not None and is_overdue(
                    cert.renewal_at, cert.not_after, now, notifier.overdue_margin):
                rows.append(_event_row(
                    EventType.RENEWAL_OVERDUE, cert, now,
                    f"renewal.overdue:{cert.id}:{cert.renewal_at.isoformat()}",
                    renewal_at=cert.renewal_at.isoformat(), **_time_left(cert, now)))
        fresh = await _new_only(session, rows)
        await insert_new(session, NotificationEvent, fresh, "dedupe_key")
        await session.commit()
    if fresh:
        logger.info("notifier.swept", extra={"events": len(fresh)})
    return len(fresh)


async def _new_only(session: AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leave out the events written by an earlier sweep (one indexed lookup)."""
    if not rows:
        return []
    keys = [row["dedupe_key"] for row in rows]
    known = set((await session.scalars(select(NotificationEvent.dedupe_key).where(
        NotificationEvent.dedupe_key.in_(keys)))).all())
    return [row for row in rows if row["dedupe_key"] not in known]
