"""ACME accounts registered with a CA. The account key is sealed at rest."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, SealedBytes, SealedKeyMixin, TimestampMixin, str_enum
from shared.states import AccountStatus


class AcmeAccount(SealedKeyMixin, TimestampMixin, Base):
    __tablename__ = "acme_accounts"
    sealed_column = "key_sealed"

    directory_url: Mapped[str] = mapped_column(String(2048))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    terms_of_service_agreed: Mapped[bool]
    eab_kid: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[AccountStatus] = mapped_column(str_enum(AccountStatus))
    account_url: Mapped[str] = mapped_column(String(2048))
    key_sealed: Mapped[bytes] = mapped_column(SealedBytes("acme_accounts.key"))
    # Key rollover: the new key, sealed before the CA is asked to switch, so an attempt
    # that dies after the CA switched finishes on the next one (never lost).
    pending_key_sealed: Mapped[bytes | None] = mapped_column(
        SealedBytes("acme_accounts.pending_key")
    )
