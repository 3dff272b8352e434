from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from services.api.schemas.common import ApiModel
from shared.choices import KeyType, RevocationReason
from shared.states import CertificateStatus


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
    revoked_at: datetime | None = Field(None, description="When Certkeeper revoked it")
    revocation_reason: RevocationReason | None = None
    alternate_chains: int = Field(description="How many alternate chains the CA offered")
    created_at: datetime


class RevocationCreate(ApiModel):
    reason: RevocationReason = Field(
        RevocationReason.UNSPECIFIED,
        description="key_compromise is signed with the certificate's own key, so the CA "
        "can block the key; every other reason with the account key",
    )
