"""Notifications: the outbox of events (written in the same transaction as their cause),
the rules saying who hears about what, and one delivery per (event, rule, recipient)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import (
    Base,
    IdMixin,
    SealedBytes,
    SealedKeyMixin,
    TimestampMixin,
    str_enum,
    utcnow,
)
from shared.states import DeliveryStatus

RULE_NAME_LENGTH = 128
URL_LENGTH = 2048
EVENT_TYPE_LENGTH = 64


class EventType(StrEnum):
    CERTIFICATE_ISSUED = "certificate.issued"
    CERTIFICATE_RENEWED = "certificate.renewed"
    CERTIFICATE_EXPIRING = "certificate.expiring"
    CERTIFICATE_REVOKED = "certificate.revoked"
    CERTIFICATE_DELETED = "certificate.deleted"
    RENEWAL_FAILED = "renewal.failed"
    RENEWAL_OVERDUE = "renewal.overdue"
    REQUEST_FAILED = "request.failed"
    REQUEST_AWAITING_MANUAL_VALIDATION = "request.awaiting_manual_validation"
    DEPLOYMENT_FAILED = "deployment.failed"
    DEPLOYMENT_UNCONFIRMED = "deployment.unconfirmed"


def _event_type() -> SAEnum:
    return SAEnum(EventType, native_enum=False, length=EVENT_TYPE_LENGTH,
                  values_callable=lambda e: [m.value for m in e])


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class NotificationEvent(IdMixin, Base):
    """One row of the outbox. ``data`` is a snapshot of what the messages show (names,
    serial, expiry, the problem), so a deleted certificate can still be told about.
    ``dedupe_key`` makes events the sweep finds (an expiry threshold, an overdue renewal)
    unique; ``fanned_out_at`` is set once the event's deliveries are written."""

    __tablename__ = "notification_events"

    type: Mapped[EventType] = mapped_column(_event_type())
    certificate_id: Mapped[UUID | None] = mapped_column(index=True)
    request_id: Mapped[UUID | None]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    fanned_out_at: Mapped[datetime | None] = mapped_column(index=True)


class NotificationRule(SealedKeyMixin, TimestampMixin, Base):
    """Who hears about what (``/v1/notification-rules``). A webhook's secret is sealed."""

    __tablename__ = "notification_rules"
    sealed_column = "secret_sealed"

    name: Mapped[str] = mapped_column(String(RULE_NAME_LENGTH), unique=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    recipients: Mapped[list[str]]
    url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    secret_sealed: Mapped[bytes | None] = mapped_column(SealedBytes("notification_rules.secret"))
    events: Mapped[list[str]]
    domains: Mapped[list[str]]
    expiry_thresholds_days: Mapped[list[int]] = mapped_column(JSON)
    enabled: Mapped[bool]
    version: Mapped[int] = mapped_column()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def secret_set(self) -> list[str]:
        return ["secret"] if self.secret_sealed is not None else []


class NotificationDelivery(IdMixin, TimestampMixin, Base):
    """One message to one recipient. ``key`` (a hash of event, certificate, threshold, rule
    and recipient) is unique: the same notice is never recorded, so never sent, twice. A
    notifier claims a row with a lease before sending and marks it after."""

    __tablename__ = "notification_deliveries"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[UUID] = mapped_column(
        ForeignKey("notification_events.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("notification_rules.id", ondelete="SET NULL"), index=True
    )
    event: Mapped[EventType] = mapped_column(_event_type())
    certificate_id: Mapped[UUID | None] = mapped_column(index=True)
    request_id: Mapped[UUID | None]
    threshold_days: Mapped[int | None]
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    recipient: Mapped[str] = mapped_column(String(URL_LENGTH))
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
