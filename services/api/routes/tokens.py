from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from services.api.deps import DEFAULT_PAGE, Admin, Cursor, Limit, ResourcesDep, SessionDep
from services.api.schemas.common import page_of, problems
from services.api.schemas.governance import TokenCreate, TokenCreated, TokenPage, TokenPublic
from shared.domain import api_tokens
from shared.domain.api_tokens import TokenSpec

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.post(
    "", operation_id="createToken", status_code=status.HTTP_201_CREATED, responses=problems(400)
)
async def create_token(
    body: TokenCreate, session: SessionDep, resources: ResourcesDep, actor: Admin
) -> TokenCreated:
    """Create an API token. The token is in this answer only: Certkeeper keeps its hash.
    ``domains`` limits an operator or viewer token to names under those suffixes."""
    spec = TokenSpec(name=body.name, role=body.role, expires_at=body.expires_at,
                     domains=body.domains)
    row, token = await api_tokens.issue_token(session, resources.runtime.settings, spec, actor)
    return TokenCreated.model_validate({**TokenPublic.model_validate(row).model_dump(),
                                        "token": token})


@router.get("", operation_id="listTokens", responses=problems())
async def list_tokens(
    session: SessionDep, _admin: Admin, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> TokenPage:
    """Newest first, revoked and expired ones included; never the tokens themselves."""
    return page_of(TokenPage, await api_tokens.list_tokens(session, cursor, limit))


@router.get("/{token_id}", operation_id="getToken", responses=problems(404))
async def get_token(token_id: UUID, session: SessionDep, _admin: Admin) -> TokenPublic:
    return TokenPublic.model_validate(await api_tokens.get_token(session, token_id))


@router.delete(
    "/{token_id}", operation_id="revokeToken", status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(404, 409),
)
async def revoke_token(
    token_id: UUID, session: SessionDep, resources: ResourcesDep, actor: Admin
) -> Response:
    """Revoke the token: refused (401) from now on by this api process, and by every other
    within its cache window (10 s). 409 for the last usable admin token."""
    await api_tokens.revoke_token(session, token_id, actor)
    resources.tokens.forget(token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
