"""Typed states: what Certkeeper and the CA say a thing is. Stored as strings (non-native
enums) so SQLite and Postgres agree."""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    AWAITING_MANUAL_VALIDATION = "awaiting_manual_validation"
    VALIDATING = "validating"
    ISSUED = "issued"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_REQUEST

    @property
    def is_worked(self) -> bool:
        """True when the issuer drives the request without waiting for a person."""
        return self in _WORKED_REQUEST


_FINAL_REQUEST = frozenset({RequestStatus.ISSUED, RequestStatus.FAILED, RequestStatus.CANCELLED})
_WORKED_REQUEST = frozenset(
    {RequestStatus.PENDING, RequestStatus.PROCESSING, RequestStatus.VALIDATING}
)


class CertificateStatus(StrEnum):
    ACTIVE = "active"
    RENEWED = "renewed"
    REVOKED = "revoked"
    EXPIRED = "expired"


class RenewalSource(StrEnum):
    """What decided a certificate's renewal time."""

    LIFETIME = "lifetime"
    ARI = "ari"
    OVERRIDE = "override"


class AccountStatus(StrEnum):
    VALID = "valid"
    DEACTIVATED = "deactivated"


class AuthzStatus(StrEnum):
    """RFC 8555 authorization status, as the CA reports it."""

    PENDING = "pending"
    VALID = "valid"
    INVALID = "invalid"
    DEACTIVATED = "deactivated"
    EXPIRED = "expired"
    REVOKED = "revoked"


class DeliveryStatus(StrEnum):
    """One notification delivery: ``pending`` (not tried yet), ``failed`` (a transient
    failure; tried again after a backoff), ``sent``, or ``dead`` (refused for good)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"

    @property
    def is_final(self) -> bool:
        return self in (DeliveryStatus.SENT, DeliveryStatus.DEAD)
