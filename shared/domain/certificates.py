"""The certificate repository: queries, chain and key export."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import idna
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.choices import RevocationReason
from shared.crypto import Keyring
from shared.db_rows import json_text, plain_text, uuid_text
from shared.domain import audit, outbox
from shared.domain.pagination import Page, keyset_statement, paginate_rows
from shared.domain.scope import certificates_in_scope, hide_unless_in_scope
from shared.domain.tokens import Principal
from shared.errors import InvalidNames, NotFound
from shared.models import AcmeAccount, Certificate, CertificateName, CertificateRequest, Lineage
from shared.models.base import utcnow
from shared.models.notifications import EventType
from shared.runtime import Runtime
from shared.states import CertificateStatus


@lru_cache(maxsize=4096)
def normalize_domain(domain: str) -> str:
    """The form names are stored in: IDNA A-label, lowercase, no trailing dot. Cached: UTS 46
    mapping costs a list request by domain a tenth of its time, and clients ask for the same
    names again and again."""
    name = domain.strip().rstrip(".")
    prefix = "*." if name.startswith("*.") else ""
    try:
        return prefix + idna.encode(name.removeprefix(prefix), uts46=True).decode()
    except idna.IDNAError as exc:
        raise InvalidNames(f"domain filter is not a valid name: {exc}") from None


# What a list shows of a certificate, as plain columns: no ORM instance is built for a page,
# and the chain and the sealed key stay in the database. ``alternate_chains`` is counted
# there; ``renew_before_seconds`` is the lineage's. Enums and UUIDs are read as their
# strings, and JSON columns as their text, which the page's JSON takes in as it is.
LIST_COLUMNS = (
    uuid_text(Certificate.id), uuid_text(Certificate.request_id),
    uuid_text(Certificate.acme_account_id), uuid_text(Certificate.replaces_id),
    Certificate.common_name, json_text(Certificate.names), Certificate.serial,
    Certificate.not_before, Certificate.not_after, Certificate.issuer,
    Certificate.fingerprint_sha256, plain_text(Certificate.key_type),
    plain_text(Certificate.status), Certificate.auto_renew, uuid_text(Certificate.lineage_id),
    uuid_text(Certificate.replaced_by_id), Certificate.renewal_at,
    plain_text(Certificate.renewal_source), Lineage.renew_before_seconds,
    Certificate.renewal_attempts, json_text(Certificate.renewal_error), Certificate.revoked_at,
    plain_text(Certificate.revocation_reason),
    func.json_array_length(Certificate.alternate_chains_pem).label("alternate_chains"),
    Certificate.created_at, uuid_text(Certificate.created_by_token_id),
    Certificate.created_by_name,
)


@dataclass(frozen=True, slots=True)
class CertificateFilter:
    """What a certificate list is filtered by (None: not filtered so), and the token's
    domain scope (empty: every domain)."""

    status: CertificateStatus | None = None
    domain: str | None = None
    expires_before: datetime | None = None
    domains: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        """The values of the statement's bound parameters."""
        values: dict[str, Any] = {}
        if self.status is not None:
            values["status"] = self.status
        if self.domain is not None:
            values["domain"] = normalize_domain(self.domain)
        if self.expires_before is not None:
            values["expires_before"] = self.expires_before
        return values


@lru_cache(maxsize=256)
def list_statement(*, status: bool, domain: bool, expires_before: bool,
                   domains: tuple[str, ...], after: bool) -> Select[Any]:
    """The list statement for one shape of filter (which filters, which scope, a cursor or
    not), built once: :data:`LIST_COLUMNS` of the certificates it shows, in keyset order,
    the values left as bound parameters (:meth:`CertificateFilter.params`,
    :func:`shared.domain.pagination.page_params`)."""
    stmt = (select(*LIST_COLUMNS).join(Lineage, Certificate.lineage_id == Lineage.id)
            .where(certificates_in_scope(domains)))
    if status:
        stmt = stmt.where(Certificate.status == bindparam("status"))
    if domain:
        named = select(CertificateName.certificate_id).where(
            CertificateName.name == bindparam("domain")
        )
        stmt = stmt.where(Certificate.id.in_(named))
    if expires_before:
        stmt = stmt.where(Certificate.not_after < bindparam("expires_before"))
    return keyset_statement(stmt, created_at=Certificate.created_at, row_id=Certificate.id,
                            after=after)


def statement_for(where: CertificateFilter, *, after: bool) -> Select[Any]:
    return list_statement(status=where.status is not None, domain=where.domain is not None,
                          expires_before=where.expires_before is not None,
                          domains=where.domains, after=after)


async def list_certificates(
    connection: AsyncConnection, where: CertificateFilter, *, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    """A page of rows (dicts of :data:`LIST_COLUMNS`), newest first."""
    return await paginate_rows(
        connection, statement_for(where, after=cursor is not None), where.params(),
        created_at=Certificate.created_at, row_id=Certificate.id, cursor=cursor, limit=limit,
    )


async def get_certificate(
    session: AsyncSession, certificate_id: UUID, domains: Sequence[str] = ()
) -> Certificate:
    """The certificate; 404 when it is missing or outside the ``domains`` scope."""
    cert = await session.get(Certificate, certificate_id)
    if cert is None:
        raise NotFound(f"no certificate {certificate_id}")
    hide_unless_in_scope(cert.names, domains, target_type="certificate",
                         target_id=certificate_id)
    return cert


def chain_pem(cert: Certificate, alternate: int | None) -> str:
    """The default chain, or the ``alternate``-th (1-based) chain the CA offered."""
    if alternate is None:
        return cert.chain_pem
    if alternate > len(cert.alternate_chains_pem):
        raise NotFound(f"the certificate has {len(cert.alternate_chains_pem)} alternate chains")
    return cert.alternate_chains_pem[alternate - 1]


async def export_private_key(
    session: AsyncSession, keyring: Keyring, certificate_id: UUID, actor: Principal
) -> bytes:
    """The private key in PEM. Every export is recorded in the audit trail."""
    cert = await get_certificate(session, certificate_id, actor.domains)
    key_pem = keyring.open(cert.private_key_sealed, cert.seal_context)
    audit.record(session, actor, "certificate.private_key_exported", "certificate", cert.id)
    await session.commit()
    return key_pem


async def revoke_certificate(
    session: AsyncSession,
    runtime: Runtime,
    certificate_id: UUID,
    reason: RevocationReason,
    actor: Principal,
) -> Certificate:
    """Revoke at the CA, then mark the certificate ``revoked`` (never renewed again).
    ``key_compromise`` is signed with the certificate's own key, every other reason with
    the account key. Revoking a revoked certificate changes nothing."""
    cert = await get_certificate(session, certificate_id, actor.domains)
    if cert.status is CertificateStatus.REVOKED:
        return cert
    account = await session.get(AcmeAccount, cert.acme_account_id)
    if account is None:
        raise NotFound(f"the certificate's ACME account {cert.acme_account_id} is gone")
    leaf_pem = leaf_of(cert.chain_pem)
    account_key = runtime.keyring.open(account.key_sealed, account.seal_context)
    cert_key = None
    if reason is RevocationReason.KEY_COMPROMISE:
        cert_key = runtime.keyring.open(cert.private_key_sealed, cert.seal_context)
    await session.commit()  # no transaction stays open while the CA is called
    acme = await runtime.acme.open(account.directory_url, account_key, account.account_url)
    try:
        if cert_key is None:
            await acme.revoke(leaf_pem, reason.code)
        else:
            await acme.revoke_with_certificate_key(leaf_pem, cert_key, reason.code)
    finally:
        acme.close()
    marked = await session.execute(  # a concurrent revoke that got here first is kept
        update(Certificate)
        .where(Certificate.id == cert.id, Certificate.status != CertificateStatus.REVOKED)
        .values(status=CertificateStatus.REVOKED, revoked_at=utcnow(),
                revocation_reason=reason.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(marked, "rowcount", 0):
        audit.record(session, actor, "certificate.revoked", "certificate", cert.id,
                     serial=cert.serial, reason=reason.value)
        outbox.emit(session, EventType.CERTIFICATE_REVOKED, certificate=cert,
                    status=CertificateStatus.REVOKED.value, reason=reason.value)
    await session.commit()
    await session.refresh(cert)
    return cert


def leaf_of(chain: str) -> bytes:
    """The first certificate of a PEM chain, in PEM."""
    return x509.load_pem_x509_certificates(chain.encode())[0].public_bytes(Encoding.PEM)


async def delete_certificate(
    session: AsyncSession,
    runtime: Runtime,
    certificate_id: UUID,
    actor: Principal,
    *,
    revoke: RevocationReason | None = None,
) -> None:
    """Remove the certificate and its sealed key; an audit tombstone keeps what it was. It
    stays valid at the CA unless ``revoke`` gives a reason to revoke it first. Rows that
    pointed at it (its request, requests and certificates that replace it or that it
    replaced) are kept and their pointer cleared."""
    if revoke is not None:
        await revoke_certificate(session, runtime, certificate_id, revoke, actor)
    cert = await get_certificate(session, certificate_id, actor.domains)
    audit.record(
        session, actor, "certificate.deleted", "certificate", cert.id, serial=cert.serial,
        names=list(cert.names), fingerprint_sha256=cert.fingerprint_sha256,
        status=cert.status.value,
    )
    outbox.emit(session, EventType.CERTIFICATE_DELETED, certificate=cert)
    for link in (Certificate.replaces_id, Certificate.replaced_by_id):
        await session.execute(update(Certificate).where(link == cert.id).values({link: None}))
    for column in (CertificateRequest.certificate_id, CertificateRequest.replaces_certificate_id):
        await session.execute(
            update(CertificateRequest).where(column == cert.id)
            .values({column: None, CertificateRequest.version: CertificateRequest.version + 1})
            .execution_options(synchronize_session=False)
        )
    await session.execute(delete(CertificateName).where(CertificateName.certificate_id == cert.id))
    await session.execute(delete(Certificate).where(Certificate.id == cert.id))
    session.expunge(cert)
    await session.commit()
