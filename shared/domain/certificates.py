"""The certificate repository: queries, chain and key export."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import idna
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.crypto import Keyring
from shared.domain import audit
from shared.domain.pagination import Page, paginate
from shared.domain.tokens import Principal
from shared.errors import InvalidNames, NotFound
from shared.models import Certificate, CertificateName
from shared.states import CertificateStatus


def normalize_domain(domain: str) -> str:
    """The form names are stored in: IDNA A-label, lowercase, no trailing dot."""
    name = domain.strip().rstrip(".")
    prefix = "*." if name.startswith("*.") else ""
    try:
        return prefix + idna.encode(name.removeprefix(prefix), uts46=True).decode()
    except idna.IDNAError as exc:
        raise InvalidNames(f"domain filter is not a valid name: {exc}") from None


async def list_certificates(
    session: AsyncSession,
    *,
    status: CertificateStatus | None,
    domain: str | None,
    expires_before: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[Certificate]:
    stmt = select(Certificate)
    if status is not None:
        stmt = stmt.where(Certificate.status == status)
    if domain is not None:
        named = select(CertificateName.certificate_id).where(
            CertificateName.name == normalize_domain(domain)
        )
        stmt = stmt.where(Certificate.id.in_(named))
    if expires_before is not None:
        stmt = stmt.where(Certificate.not_after < expires_before)
    return await paginate(
        session, stmt, created_at=Certificate.created_at, row_id=Certificate.id,
        cursor=cursor, limit=limit,
    )


async def get_certificate(session: AsyncSession, certificate_id: UUID) -> Certificate:
    cert = await session.get(Certificate, certificate_id)
    if cert is None:
        raise NotFound(f"no certificate {certificate_id}")
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
    cert = await get_certificate(session, certificate_id)
    key_pem = keyring.open(cert.private_key_sealed, cert.seal_context)
    audit.record(session, actor, "certificate.private_key_exported", "certificate", cert.id)
    await session.commit()
    return key_pem
