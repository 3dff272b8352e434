"""API tokens: random, shown once, stored as a SHA-256 hash (they carry 256 bits of entropy,
so a slow hash adds nothing)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import ApiToken
from shared.states import Role

TOKEN_PREFIX = "ck_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: UUID | None
    name: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, *, role: Role, name: str) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role, token_hash=hash_token(token))
    session.add(row)
    await session.flush()
    return row, token


async def authenticate(session: AsyncSession, token: str) -> Principal | None:
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    return Principal(token_id=row.id, name=row.name, role=row.role)
