"""Automatic DNS-01: the DNS provider accounts Certkeeper writes TXT records with, and the
mappings from domains to them. Credentials and per-domain TSIG secrets are sealed at rest."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, SealedBytes, SealedKeyMixin, TimestampMixin

PROVIDER_NAME_LENGTH = 128
PROVIDER_KIND_LENGTH = 32
DOMAIN_LENGTH = 253  # a name as shared.names normalises it: A-labels, no trailing dot
ABSOLUTE_NAME_LENGTH = 254  # a DNS name with its trailing dot ("example.com.")


class DnsProviderAccount(SealedKeyMixin, TimestampMixin, Base):
    """One configured provider (``/v1/dns-providers``). ``config`` holds the kind's plain
    settings; ``credentials_sealed`` the kind's secret fields as one sealed JSON object, and
    ``credentials_set`` the names of those fields that hold a value (what reads show)."""

    __tablename__ = "dns_providers"
    sealed_column = "credentials_sealed"

    name: Mapped[str] = mapped_column(String(PROVIDER_NAME_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(String(PROVIDER_KIND_LENGTH))
    enabled: Mapped[bool]
    config: Mapped[dict[str, Any]]
    credentials_sealed: Mapped[bytes] = mapped_column(SealedBytes("dns_providers.credentials"))
    credentials_set: Mapped[list[str]]
    version: Mapped[int] = mapped_column()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class DomainMapping(SealedKeyMixin, TimestampMixin, Base):
    """``domain`` and every name under it use ``dns_provider_id``; the longest matching
    domain wins. ``zone``, ``tsig_key_name`` and ``tsig_secret_sealed`` override the RFC 2136
    provider's settings for these names. ``agent_id`` is kept for agents (no agents yet)."""

    __tablename__ = "domain_mappings"
    sealed_column = "tsig_secret_sealed"

    domain: Mapped[str] = mapped_column(String(DOMAIN_LENGTH), unique=True)
    dns_provider_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("dns_providers.id"), index=True
    )
    agent_id: Mapped[UUID | None]
    zone: Mapped[str | None] = mapped_column(String(ABSOLUTE_NAME_LENGTH))
    tsig_key_name: Mapped[str | None] = mapped_column(String(ABSOLUTE_NAME_LENGTH))
    tsig_secret_sealed: Mapped[bytes | None] = mapped_column(
        SealedBytes("domain_mappings.tsig_secret")
    )
    version: Mapped[int] = mapped_column()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def secret_set(self) -> list[str]:
        """The secret fields holding a value, as reads show them."""
        return ["tsig_secret"] if self.tsig_secret_sealed is not None else []
