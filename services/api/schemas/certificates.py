from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from services.api.schemas.common import ApiModel, PageOf, StoredProblem
from shared.choices import KeyType, RevocationReason
from shared.states import CertificateStatus, RenewalSource

MAX_RENEW_BEFORE_SECONDS = 398 * 86400


class CertificatePublic(ApiModel):
    id: UUID
    request_id: UUID
    acme_account_id: UUID
    replaces_id: UUID | None
    common_name: str
    names: list[str]
    serial: str = Field(description="Hexadecimal serial number")
    not_before: datetime
    not_after: datetime
    issuer: str
    fingerprint_sha256: str
    key_type: KeyType
    status: CertificateStatus
    auto_renew: bool
    lineage_id: UUID
    replaced_by_id: UUID | None
    renewal_at: datetime | None = Field(
        description="When the renewer starts (or next looks at) the renewal; null once the "
        "certificate is no longer active"
    )
    renewal_source: RenewalSource | None = Field(
        description="What decided renewal_at: the lifetime rule, the CA (ari) or an override"
    )
    renew_before_seconds: int | None = Field(
        description="Renew this long before not_after; null: automatic"
    )
    renewal_attempts: int = Field(description="Failed renewals in a row")
    renewal_error: StoredProblem = Field(
        description="The last failed renewal's problem; retried after a backoff"
    )
    revoked_at: datetime | None = Field(None, description="When Certkeeper revoked it")
    revocation_reason: RevocationReason | None = None
    alternate_chains: int = Field(description="How many alternate chains the CA offered")
    created_at: datetime
    created_by_token_id: UUID | None = Field(
        None, description="The token whose request made it (null: made by a process)"
    )
    created_by_name: str | None = Field(None, description="That token's (or process's) name")


class CertificateUpdate(ApiModel):
    """Fields left out are unchanged; ``renew_before_seconds: null`` returns to automatic."""

    # Strict: a JSON boolean and a JSON integer only, as the schema says (no 0 for false).
    auto_renew: bool | None = Field(None, strict=True)
    renew_before_seconds: int | None = Field(
        None, ge=1, le=MAX_RENEW_BEFORE_SECONDS, strict=True
    )


class RevocationCreate(ApiModel):
    reason: RevocationReason = Field(
        RevocationReason.UNSPECIFIED,
        description="key_compromise is signed with the certificate's own key, so the CA "
        "can block the key; every other reason with the account key",
    )


class CertificatePage(PageOf[CertificatePublic]):
    """A page of certificates."""
