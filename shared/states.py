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


class AgentTaskKind(StrEnum):
    """What an agent is asked to do."""

    HTTP01_PRESENT = "http01.present"  # serve a key authorization at its token
    HTTP01_CLEANUP = "http01.cleanup"  # stop serving it
    DEPLOY = "deploy"  # write the certificate and key, reload, confirm


class AgentTaskStatus(StrEnum):
    PENDING = "pending"  # waiting for the agent (or for its not_before)
    CLAIMED = "claimed"  # handed to the agent; handed again once the lease runs out
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in {AgentTaskStatus.SUCCEEDED, AgentTaskStatus.FAILED}


class DeploymentStatus(StrEnum):
    """One certificate at one deployment target."""

    PENDING = "pending"  # not delivered yet (or waiting to be retried)
    DEPLOYED = "deployed"  # delivered; nothing to probe, or not confirmed yet
    CONFIRMED = "confirmed"  # every endpoint serves this certificate's serial
    UNCONFIRMED = "unconfirmed"  # delivered, but an endpoint still serves another serial
    FAILED = "failed"  # delivery failed; ``error`` says why


class DeploymentKind(StrEnum):
    AGENT = "agent"
    KUBERNETES_SECRET = "kubernetes-secret"  # noqa: S105 - a kind, not a secret
    WEBHOOK = "webhook"
