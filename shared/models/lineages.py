"""What is wanted, apart from the attempts (cert-manager's Certificate vs CertificateRequest):
one lineage per wish; every request and every certificate of that wish points at it, and a
renewal is a new request made from the lineage, never a copy of an old request."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.chains import PREFERRED_CHAIN_LENGTH
from shared.choices import ChallengeType, KeyType, ValidationMode
from shared.models.base import Base, IdMixin, TimestampMixin, str_enum

PROFILE_LENGTH = 64


class Lineage(IdMixin, TimestampMixin, Base):
    __tablename__ = "lineages"

    common_name: Mapped[str] = mapped_column(String(253))
    names: Mapped[list[str]]
    key_type: Mapped[KeyType] = mapped_column(str_enum(KeyType))
    key_size: Mapped[int | None]
    curve: Mapped[str | None] = mapped_column(String(16))
    challenge_type: Mapped[ChallengeType] = mapped_column(str_enum(ChallengeType))
    validation: Mapped[ValidationMode] = mapped_column(str_enum(ValidationMode))
    dns_provider_id: Mapped[UUID | None]
    acme_account_id: Mapped[UUID] = mapped_column(ForeignKey("acme_accounts.id"), index=True)
    # An ACME profile (stored; asked of the CA once the ACME layer supports profiles).
    profile: Mapped[str | None] = mapped_column(String(PROFILE_LENGTH))
    # Keep the chain whose topmost issuer has this common name (shared.chains).
    preferred_chain: Mapped[str | None] = mapped_column(String(PREFERRED_CHAIN_LENGTH))
    auto_renew: Mapped[bool]
    # Null: the renewal time follows the lifetime (or the CA's advice).
    renew_before_seconds: Mapped[int | None]
