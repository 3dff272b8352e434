"""ACME accounts: register with the CA, list, deactivate. The account key is sealed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID, uuid4

from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.acme_errors import AcmeResponseInvalid
from shared.choices import KeyType
from shared.cpu import generate_key
from shared.domain import audit
from shared.domain.pagination import Page, paginate
from shared.domain.tokens import Principal
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.models import AcmeAccount, CertificateRequest
from shared.runtime import Runtime
from shared.states import AccountStatus, RequestStatus

ACCOUNT_KEY_CURVE = "p-256"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


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


def is_base64url(value: str) -> bool:
    """base64url (RFC 4648 §5), padded or not, of a length some bytes encode to."""
    bare = value.rstrip("=")
    padded_right = value == bare or len(value) % 4 == 0
    return bool(_BASE64URL.fullmatch(bare)) and len(bare) % 4 != 1 and padded_right


def column_length(column: str) -> int:
    """The length of one of ``acme_accounts``' string columns."""
    column_type = AcmeAccount.__table__.c[column].type
    if not isinstance(column_type, String) or column_type.length is None:
        raise TypeError(f"acme_accounts.{column} has no length")
    return column_type.length


def check_spec(spec: AccountSpec) -> None:
    """Everything that can be refused before the CA is called (which creates the account)."""
    if not spec.terms_of_service_agreed:
        raise ValidationProblem("the CA's terms of service must be agreed to register")
    if (spec.eab_kid is None) != (spec.eab_hmac_key is None):
        raise ValidationProblem("eab_kid and eab_hmac_key go together")
    if spec.eab_hmac_key is not None and not is_base64url(spec.eab_hmac_key):
        raise ValidationProblem("eab_hmac_key must be base64url, as the CA gave it")
    for column, value in (("directory_url", spec.directory_url),
                          ("contact_email", spec.contact_email), ("eab_kid", spec.eab_kid)):
        if value is not None and len(value) > column_length(column):
            raise ValidationProblem(f"{column} is longer than {column_length(column)} characters")


async def register_account(
    session: AsyncSession, runtime: Runtime, spec: AccountSpec, actor: Principal
) -> AcmeAccount:
    """Create a key, register it at the CA, then store the account. Nothing is written
    when the CA refuses or cannot be reached."""
    check_spec(spec)
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
    if len(account_url) > column_length("account_url"):
        raise AcmeResponseInvalid(
            f"the CA's account URL is longer than {column_length('account_url')} characters"
        )
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
    await session.commit()  # no transaction stays open while the CA is called
    key_pem = runtime.keyring.open(account.key_sealed, account.seal_context)
    acme = await runtime.acme.open(account.directory_url, key_pem, account.account_url)
    try:
        await acme.deactivate(account.account_url)
    finally:
        acme.close()
    account.status = AccountStatus.DEACTIVATED
    audit.record(session, actor, "acme_account.deactivated", "acme_account", account.id)
    await session.commit()
