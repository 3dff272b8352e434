"""Certificate requests and their per-name challenges: the issuer's work, one row each."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.chains import PREFERRED_CHAIN_LENGTH
from shared.choices import ChallengeType, KeyType, ValidationMode
from shared.models.base import (
    Base,
    CreatedByMixin,
    IdMixin,
    SealedBytes,
    SealedKeyMixin,
    TimestampMixin,
    str_enum,
    utcnow,
)
from shared.models.dns import ABSOLUTE_NAME_LENGTH
from shared.states import AuthzStatus, RequestStatus


class CertificateRequest(CreatedByMixin, SealedKeyMixin, TimestampMixin, Base):
    __tablename__ = "certificate_requests"
    __table_args__ = (
        # The list's keyset order, alone and after its status filter (migration 0014).
        Index("ix_certificate_requests_created_at_id", "created_at", "id"),
        Index("ix_certificate_requests_status_created_at_id", "status", "created_at", "id"),
    )
    sealed_column = "private_key_sealed"
    # Indexed by the first index above, not alone (migration 0014).
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    common_name: Mapped[str] = mapped_column(String(253))
    names: Mapped[list[str]]
    key_type: Mapped[KeyType] = mapped_column(str_enum(KeyType))
    key_size: Mapped[int | None]
    curve: Mapped[str | None] = mapped_column(String(16))
    challenge_type: Mapped[ChallengeType] = mapped_column(str_enum(ChallengeType))
    validation: Mapped[ValidationMode] = mapped_column(str_enum(ValidationMode))
    dns_provider_id: Mapped[UUID | None]
    acme_account_id: Mapped[UUID] = mapped_column(ForeignKey("acme_accounts.id"), index=True)
    lineage_id: Mapped[UUID] = mapped_column(ForeignKey("lineages.id"), index=True)
    auto_renew: Mapped[bool]
    replaces_certificate_id: Mapped[UUID | None]
    profile: Mapped[str | None] = mapped_column(String(64))  # ACME profile (newOrder)
    preferred_chain: Mapped[str | None] = mapped_column(String(PREFERRED_CHAIN_LENGTH))
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus), index=True)
    error: Mapped[dict[str, Any] | None]
    certificate_id: Mapped[UUID | None]
    # ACME order state, persisted so a restarted worker resumes the same order.
    order_url: Mapped[str | None] = mapped_column(String(2048))
    finalize_url: Mapped[str | None] = mapped_column(String(2048))
    order_status: Mapped[str | None] = mapped_column(String(32))
    private_key_sealed: Mapped[bytes | None] = mapped_column(
        SealedBytes("certificate_requests.private_key")
    )
    csr_pem: Mapped[str | None] = mapped_column(Text)
    # Orders placed for this request: an invalid order is replaced by a fresh one, within
    # the schedule of CERTKEEPER_ORDER_RETRY_SECONDS.
    orders_placed: Mapped[int] = mapped_column(default=0, server_default="0")
    # Scheduling: the lease keeps a second job out; the version (bumped by every write,
    # checked by every ORM update) fences a job whose row changed under it and names jobs.
    version: Mapped[int] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    polls: Mapped[int] = mapped_column(default=0)
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    retry_not_before: Mapped[datetime | None]
    last_error: Mapped[dict[str, Any] | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    challenges: Mapped[list[Challenge]] = relationship(
        back_populates="request",
        cascade="all, delete-orphan",
        order_by="Challenge.position",
        lazy="selectin",
    )
    # One row per name, so a token's domain scope filters lists in SQL on any database.
    name_rows: Mapped[list[RequestName]] = relationship(
        cascade="all, delete-orphan", lazy="raise", passive_deletes=True
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Challenge(IdMixin, Base):
    """One authorization of the order and the challenge chosen to satisfy it."""

    __tablename__ = "challenges"
    __table_args__ = (Index("ix_challenges_token", "token"),)

    request_id: Mapped[UUID] = mapped_column(
        ForeignKey("certificate_requests.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    identifier: Mapped[str] = mapped_column(String(253))
    wildcard: Mapped[bool]
    authz_url: Mapped[str] = mapped_column(String(2048))
    authz_status: Mapped[AuthzStatus] = mapped_column(str_enum(AuthzStatus))
    type: Mapped[ChallengeType] = mapped_column(str_enum(ChallengeType))
    challenge_url: Mapped[str | None] = mapped_column(String(2048))
    token: Mapped[str | None] = mapped_column(String(255))
    key_authorization: Mapped[str | None] = mapped_column(Text)
    txt_name: Mapped[str | None] = mapped_column(String(255))
    txt_value: Mapped[str | None] = mapped_column(String(255))
    answered_at: Mapped[datetime | None]
    error: Mapped[dict[str, Any] | None]
    # Automatic dns-01: the record's life. ``record_name`` (after CNAMEs), ``zone`` and the
    # provider are written before the record is presented, so whatever may have been
    # published is known to cleanup even if the worker dies mid-call.
    dns_provider_id: Mapped[UUID | None]
    domain_mapping_id: Mapped[UUID | None]
    record_name: Mapped[str | None] = mapped_column(String(ABSOLUTE_NAME_LENGTH))
    zone: Mapped[str | None] = mapped_column(String(ABSOLUTE_NAME_LENGTH))
    presented_at: Mapped[datetime | None]
    propagation_started_at: Mapped[datetime | None]
    propagated_at: Mapped[datetime | None]
    cleaned_at: Mapped[datetime | None]
    cleanup_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    cleanup_error: Mapped[dict[str, Any] | None]
    # HTTP-01 through an agent (a domain mapping names it): the task that serves the token.
    agent_task_id: Mapped[UUID | None]

    request: Mapped[CertificateRequest] = relationship(back_populates="challenges")


class RequestName(Base):
    """One row per name of a certificate request (as ``certificate_names`` for certificates)."""

    __tablename__ = "certificate_request_names"
    __table_args__ = (Index("ix_certificate_request_names_name", "name"),)

    request_id: Mapped[UUID] = mapped_column(
        ForeignKey("certificate_requests.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
