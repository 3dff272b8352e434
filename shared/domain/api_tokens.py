"""The ``/v1/tokens`` resource: create (the token shown once), list, get, revoke.

A token has a role and optionally an expiry and a domain scope (see shared.domain.scope).
An admin token cannot be scoped: admin routes (accounts, providers, tokens, audit) reach
every domain, so a scope on them would promise what it cannot keep. Revoking the last
usable unscoped admin token is refused, so the service cannot be locked out of itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.domain import audit
from shared.domain.pagination import Page, paginate
from shared.domain.scope import InvalidScope, normalize_scope
from shared.domain.tokens import Principal, create_token
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.models import ApiToken
from shared.models.base import utcnow
from shared.roles import Role

TARGET = "api_token"


@dataclass(frozen=True, slots=True)
class TokenSpec:
    name: str
    role: Role
    expires_at: datetime | None = None
    domains: Sequence[str] = ()


async def issue_token(
    session: AsyncSession, settings: Settings, spec: TokenSpec, actor: Principal,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Check the spec, store the token's hash and return the row and the token (committed)."""
    domains = normalize_scope(spec.domains, settings)
    if domains and spec.role is Role.ADMIN:
        raise InvalidScope("an admin token reaches every domain: give domains to operator "
                           "or viewer tokens only")
    if spec.expires_at is not None and spec.expires_at <= (now or utcnow()):
        raise ValidationProblem("expires_at must be in the future")
    row, token = await create_token(session, role=spec.role, name=spec.name, domains=domains,
                                    expires_at=spec.expires_at)
    audit.record(session, actor, "api_token.created", TARGET, row.id, name=row.name,
                 role=row.role.value, domains=list(domains),
                 expires_at=None if spec.expires_at is None else spec.expires_at.isoformat())
    await session.commit()
    return row, token


async def list_tokens(session: AsyncSession, cursor: str | None, limit: int) -> Page[ApiToken]:
    return await paginate(session, select(ApiToken), created_at=ApiToken.created_at,
                          row_id=ApiToken.id, cursor=cursor, limit=limit)


async def get_token(session: AsyncSession, token_id: UUID) -> ApiToken:
    row = await session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    return row


def _usable(now: datetime) -> list[ColumnElement[bool]]:
    return [ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now)]


async def revoke_token(
    session: AsyncSession, token_id: UUID, actor: Principal, now: datetime | None = None
) -> None:
    """Mark the token revoked (a revoked token stays listed, with ``revoked_at``). Revoking
    it again changes nothing."""
    now = now or utcnow()
    row = await get_token(session, token_id)
    if row.revoked_at is not None:
        return
    if row.role is Role.ADMIN and not row.domains:
        others = await session.scalar(
            select(func.count()).select_from(ApiToken)
            .where(ApiToken.id != row.id, ApiToken.role == Role.ADMIN, *_usable(now))
        )
        if not others:
            raise Conflict("this is the last usable admin token: create another admin token "
                           "before revoking it")
    revoked = await session.execute(
        update(ApiToken).where(ApiToken.id == row.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    )
    if getattr(revoked, "rowcount", 0):
        audit.record(session, actor, "api_token.revoked", TARGET, row.id, name=row.name)
    await session.commit()
    await session.refresh(row)
