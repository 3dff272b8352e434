from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from services.api.deps import DEFAULT_PAGE, Admin, Cursor, Limit, ResourcesDep, SessionDep, Viewer
from services.api.schemas.accounts import (
    AcmeAccountCreate,
    AcmeAccountPage,
    AcmeAccountPublic,
    KeyRollover,
)
from services.api.schemas.common import page_of, problems
from shared.domain import accounts, key_rollover
from shared.domain.accounts import AccountSpec

router = APIRouter(prefix="/v1/acme-accounts", tags=["acme-accounts"])


@router.post(
    "", operation_id="createAcmeAccount", status_code=status.HTTP_201_CREATED,
    responses=problems(400, 429, 502),
)
async def create_acme_account(
    body: AcmeAccountCreate, session: SessionDep, resources: ResourcesDep, actor: Admin
) -> AcmeAccountPublic:
    """Register a new account with an ACME CA (admin only). The CA is called at once;
    nothing is stored when it refuses."""
    spec = AccountSpec(
        directory_url=str(body.directory_url or resources.runtime.settings.acme_directory_url),
        contact_email=body.contact_email,
        terms_of_service_agreed=body.terms_of_service_agreed,
        eab_kid=body.eab_kid,
        eab_hmac_key=body.eab_hmac_key.get_secret_value() if body.eab_hmac_key else None,
    )
    account = await accounts.register_account(session, resources.runtime, spec, actor)
    return AcmeAccountPublic.model_validate(account)


@router.get("", operation_id="listAcmeAccounts", responses=problems())
async def list_acme_accounts(
    session: SessionDep, _viewer: Viewer, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> AcmeAccountPage:
    page = await accounts.list_accounts(session, cursor, limit)
    return page_of(AcmeAccountPage, page)


@router.get("/{account_id}", operation_id="getAcmeAccount", responses=problems(404))
async def get_acme_account(
    account_id: UUID, session: SessionDep, _viewer: Viewer
) -> AcmeAccountPublic:
    return AcmeAccountPublic.model_validate(await accounts.get_account(session, account_id))


@router.delete(
    "/{account_id}", operation_id="deactivateAcmeAccount",
    status_code=status.HTTP_204_NO_CONTENT, responses=problems(404, 409, 429, 502),
)
async def deactivate_acme_account(
    account_id: UUID, session: SessionDep, resources: ResourcesDep, actor: Admin
) -> Response:
    """Deactivate the account at the CA. Its certificates stay in the repository."""
    await accounts.deactivate_account(session, resources.runtime, account_id, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{account_id}/key-rollover", operation_id="rollOverAcmeAccountKey",
    responses=problems(400, 404, 409, 429, 502),
)
async def roll_over_acme_account_key(
    account_id: UUID,
    session: SessionDep,
    resources: ResourcesDep,
    actor: Admin,
    body: KeyRollover | None = None,
) -> AcmeAccountPublic:
    """Give the account a new key, at the CA (RFC 8555 key change) and here (admin only).
    Orders in flight carry on under the new key. Safe to repeat: an attempt cut short after
    the CA switched is finished by the next one."""
    wanted = body or KeyRollover()
    account = await key_rollover.roll_over_key(
        session, resources.runtime, account_id, actor,
        key_type=wanted.key_type, key_size=wanted.key_size, curve=wanted.curve,
    )
    return AcmeAccountPublic.model_validate(account)
