"""ACME accounts: register with the CA, list, deactivate. The account key is sealed."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.cpu import generate_key
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.models import AcmeAccount, CertificateRequest
from shared.runtime import Runtime
from shared.services import audit
from shared.services.pagination import Page, paginate
from shared.services.tokens import Principal
from shared.states import AccountStatus, KeyType, RequestStatus

ACCOUNT_KEY_CURVE = "p-256"


class ExternalAccountRequired(ValidationProblem):
    slug = "external-account-required"
    title = "The CA requires external account binding (eab_kid and eab_hmac_key)"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    directory_url: str
    contact_email: str | None
    terms_of_service_agreed: bool
    eab_kid: str | None = None
    eab_hmac_key: str | None = None


async def register_account(
    session: AsyncSession, runtime: Runtime, spec: AccountSpec, actor: Principal
) -> AcmeAccount:
    """Create a key, register it at the CA, then store the account. Nothing is written
    when the CA refuses or cannot be reached."""
    if not spec.terms_of_service_agreed:
        raise ValidationProblem("the CA's terms of service must be agreed to register")
    if (spec.eab_kid is None) != (spec.eab_hmac_key is None):
        raise ValidationProblem("eab_kid and eab_hmac_key go together")
    key_pem = await generate_key(KeyType.EC, None, ACCOUNT_KEY_CURVE)
    acme = await runtime.acme.open(spec.directory_url, key_pem, None)
    try:
        if acme.requires_external_account and spec.eab_kid is None:
            raise ExternalAccountRequired(f"{spec.directory_url} requires external account binding")
        account_url = await acme.register(
            contact_email=spec.contact_email,
            terms_of_service_agreed=spec.terms_of_service_agreed,
            eab_kid=spec.eab_kid,
            eab_hmac_key=spec.eab_hmac_key,
        )
    finally:
        acme.close()
    account = AcmeAccount(
        id=uuid4(), directory_url=spec.directory_url, contact_email=spec.contact_email,
        terms_of_service_agreed=True, eab_kid=spec.eab_kid, status=AccountStatus.VALID,
        account_url=account_url, key_sealed=b"",
    )
    account.key_sealed = runtime.keyring.seal(key_pem, account.seal_context)
    session.add(account)
    audit.record(session, actor, "acme_account.registered", "acme_account", account.id,
                 directory_url=spec.directory_url)
    await session.commit()
    return account


async def get_account(session: AsyncSession, account_id: UUID) -> AcmeAccount:
    account = await session.get(AcmeAccount, account_id)
    if account is None:
        raise NotFound(f"no ACME account {account_id}")
    return account


async def list_accounts(session: AsyncSession, cursor: str | None, limit: int) -> Page[AcmeAccount]:
    return await paginate(
        session, select(AcmeAccount), created_at=AcmeAccount.created_at, row_id=AcmeAccount.id,
        cursor=cursor, limit=limit,
    )


async def deactivate_account(
    session: AsyncSession, runtime: Runtime, account_id: UUID, actor: Principal
) -> None:
    """Deactivate at the CA and mark the row; refused while requests still use it."""
    account = await get_account(session, account_id)
    if account.status is AccountStatus.DEACTIVATED:
        return
    busy = await session.scalar(
        select(func.count()).select_from(CertificateRequest).where(
            CertificateRequest.acme_account_id == account_id,
            CertificateRequest.status.in_([s for s in RequestStatus if not s.is_final]),
        )
    )
    if busy:
        raise Conflict(f"{busy} certificate request(s) still use this account")
    key_pem = runtime.keyring.open(account.key_sealed, account.seal_context)
    acme = await runtime.acme.open(account.directory_url, key_pem, account.account_url)
    try:
        await acme.deactivate(account.account_url)
    finally:
        acme.close()
    account.status = AccountStatus.DEACTIVATED
    audit.record(session, actor, "acme_account.deactivated", "acme_account", account.id)
    await session.commit()
