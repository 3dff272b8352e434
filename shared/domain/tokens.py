"""API tokens: random, shown once, stored as a SHA-256 hash (they carry 256 bits of entropy,
so a slow hash adds nothing).

Checking a token is cheap and cannot starve the API (:class:`TokenVerifier`): a string that
is not shaped like a token is refused without the database, a known token is remembered for
:data:`CACHE_SECONDS` (so a revoked token keeps working for at most that long in each api
process), and at most :data:`LOOKUP_CONCURRENCY` lookups use the database at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Sessions
from shared.models import ApiToken
from shared.roles import Role

TOKEN_PREFIX = "ck_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for
TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"ck_[A-Za-z0-9_-]{43}")  # TOKEN_PREFIX + token_urlsafe(32)

CACHE_SECONDS = 10.0
CACHE_SIZE = 1024
LOOKUP_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: UUID | None
    name: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """True when ``token`` has the shape of a token :func:`create_token` hands out."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


async def create_token(session: AsyncSession, *, role: Role, name: str) -> tuple[ApiToken, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
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


class TokenVerifier:
    """Bearer token to principal for one process: shape check, a small TTL cache of known
    tokens (by hash) and a bound on concurrent database lookups."""

    def __init__(
        self,
        *,
        ttl: float = CACHE_SECONDS,
        size: int = CACHE_SIZE,
        concurrency: int = LOOKUP_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._size, self._clock = ttl, size, clock
        self._known: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lookups = asyncio.Semaphore(concurrency)

    async def verify(self, sessions: Sessions, token: str) -> Principal | None:
        """The token's principal, or None when it is malformed, unknown or revoked."""
        if not well_formed(token):
            return None
        digest = hash_token(token)
        cached = self._known.get(digest)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        async with self._lookups, sessions() as session:
            principal = await authenticate(session, token)
        if principal is not None:
            self._remember(digest, principal)
        return principal

    def _remember(self, digest: str, principal: Principal) -> None:
        self._known[digest] = (self._clock() + self._ttl, principal)
        self._known.move_to_end(digest)
        while len(self._known) > self._size:
            self._known.popitem(last=False)
