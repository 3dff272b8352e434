"""The certificate repository. The private key is sealed at rest."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.choices import KeyType
from shared.models.base import (
    Base,
    CreatedByMixin,
    SealedBytes,
    SealedKeyMixin,
    TimestampMixin,
    str_enum,
    utcnow,
)
from shared.models.lineages import Lineage
from shared.states import CertificateStatus, RenewalSource


class Certificate(CreatedByMixin, SealedKeyMixin, TimestampMixin, Base):
    __tablename__ = "certificates"
    # The list's keyset order (newest first, then id), alone and after ?status=: a page,
    # first or deep, reads only the rows it returns. ``not_after`` rides in the first index,
    # so ?expires_before= is checked on index entries, not on table rows (migration 0013).
    __table_args__ = (
        Index("ix_certificates_created_at_id_not_after", "created_at", "id", "not_after"),
        Index("ix_certificates_status_created_at_id", "status", "created_at", "id"),
        # The renewer's wake query and expiry step: the active ones by expiry (0014).
        Index("ix_certificates_status_not_after", "status", "not_after"),
    )
    sealed_column = "private_key_sealed"
    # Indexed by the first index above, not alone (migration 0013).
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    request_id: Mapped[UUID] = mapped_column(
        ForeignKey("certificate_requests.id"), unique=True
    )
    acme_account_id: Mapped[UUID] = mapped_column(ForeignKey("acme_accounts.id"), index=True)
    replaces_id: Mapped[UUID | None] = mapped_column(ForeignKey("certificates.id"))
    common_name: Mapped[str] = mapped_column(String(253))
    names: Mapped[list[str]]
    serial: Mapped[str] = mapped_column(String(64), index=True)
    not_before: Mapped[datetime]
    not_after: Mapped[datetime] = mapped_column(index=True)
    issuer: Mapped[str] = mapped_column(String(1024))
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    key_type: Mapped[KeyType] = mapped_column(str_enum(KeyType))
    chain_pem: Mapped[str] = mapped_column(Text)
    alternate_chains_pem: Mapped[list[str]]
    private_key_sealed: Mapped[bytes] = mapped_column(SealedBytes("certificates.private_key"))
    status: Mapped[CertificateStatus] = mapped_column(str_enum(CertificateStatus), index=True)
    # The lineage's auto_renew, kept on the row so the renewer's query needs no join.
    auto_renew: Mapped[bool]
    lineage_id: Mapped[UUID] = mapped_column(ForeignKey("lineages.id"), index=True)
    replaced_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("certificates.id"))
    # Renewal: the planned moment (or, after a renewal started, when to look at it again),
    # the renewal request in flight, failures, and the renewer's lease on the row.
    renewal_at: Mapped[datetime | None] = mapped_column(index=True)
    renewal_source: Mapped[RenewalSource | None] = mapped_column(str_enum(RenewalSource))
    renewal_request_id: Mapped[UUID | None]
    renewal_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    renewal_error: Mapped[dict[str, Any] | None]
    renewal_lease_owner: Mapped[str | None] = mapped_column(String(64))
    renewal_lease_until: Mapped[datetime | None]
    # The CA's renewal window (RFC 9773), as last answered, and when to ask again (None:
    # never, the CA has no ARI). The renewer claims a row when this or renewal_at is due.
    ari_window_start: Mapped[datetime | None]
    ari_window_end: Mapped[datetime | None]
    ari_check_at: Mapped[datetime | None] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(String(32))

    lineage: Mapped[Lineage] = relationship(lazy="joined", innerjoin=True)

    @property
    def renew_before_seconds(self) -> int | None:
        return self.lineage.renew_before_seconds

    @property
    def alternate_chains(self) -> int:
        return len(self.alternate_chains_pem)


class CertificateName(Base):
    """One row per name in a certificate, so ``?domain=`` is an indexed lookup on any database."""

    __tablename__ = "certificate_names"
    __table_args__ = (Index("ix_certificate_names_name", "name"),)

    certificate_id: Mapped[UUID] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    # Lets the unit of work insert the certificate before its names.
    certificate: Mapped[Certificate] = relationship(lazy="raise")
