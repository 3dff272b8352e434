"""What the database knows, as Prometheus metrics, read when ``/metrics`` is scraped.

Per active certificate (cert-manager's names): ``certkeeper_certificate_expiration_timestamp_
seconds``, ``..._renewal_timestamp_seconds``, ``..._not_before_timestamp_seconds`` and whether
a renewal is in flight, labelled with the certificate id and common name; then certificates
and requests by status, renewals due and overdue, and the work waiting for the issuer (the
database is the queue's truth: a step that is due and not yet taken).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Certificate, CertificateRequest
from shared.states import CertificateStatus, RequestStatus

WORKED = [s for s in RequestStatus if s.is_worked]


class RenewalState(StrEnum):
    NOT_DUE = "not_due"
    DUE = "due"
    OVERDUE = "overdue"


def renewal_state(now: datetime, renewal_at: datetime | None, not_after: datetime) -> RenewalState:
    """Due once the planned renewal moment has come; overdue once half of the time between
    that moment and expiry is gone (a share of the remaining life, so it means the same for a
    90-day and a 2-minute certificate)."""
    if renewal_at is None or now < renewal_at:
        return RenewalState.NOT_DUE
    if now >= renewal_at + (not_after - renewal_at) / 2:
        return RenewalState.OVERDUE
    return RenewalState.DUE


@dataclass(frozen=True)
class CertificateFacts:
    id: str
    common_name: str
    not_before: datetime
    not_after: datetime
    renewal_at: datetime | None
    auto_renew: bool
    renewal_in_flight: bool


@dataclass
class StateSnapshot:
    now: datetime
    certificates: list[CertificateFacts] = field(default_factory=list)
    certificates_by_status: dict[str, int] = field(default_factory=dict)
    requests_by_status: dict[str, int] = field(default_factory=dict)
    work_due: int = 0
    oldest_due: datetime | None = None


async def read_state(session: AsyncSession, now: datetime) -> StateSnapshot:
    """Four short indexed queries; no row is locked."""
    snapshot = StateSnapshot(now=now)
    active = await session.execute(
        select(Certificate.id, Certificate.common_name, Certificate.not_before,
               Certificate.not_after, Certificate.renewal_at, Certificate.auto_renew,
               Certificate.renewal_request_id)
        .where(Certificate.status == CertificateStatus.ACTIVE)
    )
    snapshot.certificates = [
        CertificateFacts(str(row.id), row.common_name, row.not_before, row.not_after,
                         row.renewal_at, row.auto_renew, row.renewal_request_id is not None)
        for row in active
    ]
    snapshot.certificates_by_status = await _counts(session, Certificate.status)
    snapshot.requests_by_status = await _counts(session, CertificateRequest.status)
    due = (await session.execute(
        select(func.count(), func.min(CertificateRequest.next_run_at)).where(
            CertificateRequest.status.in_(WORKED), CertificateRequest.next_run_at <= now,
        )
    )).one()
    snapshot.work_due, snapshot.oldest_due = int(due[0]), due[1]
    return snapshot


async def _counts(session: AsyncSession, column: object) -> dict[str, int]:
    rows = await session.execute(select(column, func.count()).group_by(column))  # type: ignore[call-overload]
    return {str(status): int(count) for status, count in rows}


class StateCollector(Collector):
    """Renders one snapshot (or, when the database could not be read, says so)."""

    def __init__(self, snapshot: StateSnapshot | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("certkeeper_database_up",
                               "1 when the database answered this scrape")
        up.add_metric([], 0 if self.snapshot is None else 1)
        yield up
        if self.snapshot is not None:
            yield from _certificate_metrics(self.snapshot)
            yield from _totals(self.snapshot)


_PER_CERTIFICATE = ["certificate_id", "common_name"]


def _certificate_metrics(snap: StateSnapshot) -> Iterator[Metric]:
    expiration = GaugeMetricFamily(
        "certkeeper_certificate_expiration_timestamp_seconds",
        "When the active certificate expires (not_after), Unix seconds", labels=_PER_CERTIFICATE)
    renewal = GaugeMetricFamily(
        "certkeeper_certificate_renewal_timestamp_seconds",
        "When the active certificate is to be renewed, Unix seconds", labels=_PER_CERTIFICATE)
    not_before = GaugeMetricFamily(
        "certkeeper_certificate_not_before_timestamp_seconds",
        "The active certificate's not_before, Unix seconds", labels=_PER_CERTIFICATE)
    in_flight = GaugeMetricFamily(
        "certkeeper_certificate_renewal_in_progress",
        "1 while a renewal request for the active certificate is open", labels=_PER_CERTIFICATE)
    for cert in snap.certificates:
        labels = [cert.id, cert.common_name]
        expiration.add_metric(labels, cert.not_after.timestamp())
        not_before.add_metric(labels, cert.not_before.timestamp())
        in_flight.add_metric(labels, 1 if cert.renewal_in_flight else 0)
        if cert.renewal_at is not None and cert.auto_renew:
            renewal.add_metric(labels, cert.renewal_at.timestamp())
    yield from (expiration, renewal, not_before, in_flight)


def _totals(snap: StateSnapshot) -> Iterator[Metric]:
    yield _by_status("certkeeper_certificates", "Certificates by status",
                     [s.value for s in CertificateStatus], snap.certificates_by_status)
    yield _by_status("certkeeper_certificate_requests", "Certificate requests by status",
                     [s.value for s in RequestStatus], snap.requests_by_status)
    states = [renewal_state(snap.now, c.renewal_at, c.not_after)
              for c in snap.certificates if c.auto_renew]
    for state, help_text in ((RenewalState.DUE, "Active auto-renewing certificates due for "
                              "renewal (not yet overdue)"),
                             (RenewalState.OVERDUE, "Active auto-renewing certificates past "
                              "half of the time between their renewal moment and expiry")):
        gauge = GaugeMetricFamily(f"certkeeper_renewals_{state.value}", help_text)
        gauge.add_metric([], states.count(state))
        yield gauge
    depth = GaugeMetricFamily("certkeeper_queue_depth",
                              "Requests with a step due that no worker has finished yet")
    depth.add_metric([], snap.work_due)
    yield depth
    age = GaugeMetricFamily("certkeeper_queue_oldest_pending_age_seconds",
                            "How long the longest-waiting due step has waited (0: none)")
    oldest = snap.oldest_due
    age.add_metric([], 0.0 if oldest is None else max(0.0, (snap.now - oldest).total_seconds()))
    yield age


def _by_status(name: str, help_text: str, statuses: Sequence[str],
               counts: dict[str, int]) -> Metric:
    gauge = GaugeMetricFamily(name, help_text, labels=["status"])
    for status in statuses:
        gauge.add_metric([status], counts.get(status, 0))
    return gauge
