"""API tokens: random, shown once, stored as a SHA-256 hash (they carry 256 bits of entropy,
so a slow hash adds nothing; the lookup is by hash, so no comparison of secrets is timed).

Checking a token is cheap and cannot starve the API (:class:`TokenVerifier`): a string that
is not shaped like a token is refused without the database, at most
:data:`LOOKUP_CONCURRENCY` lookups use the database at once, and concurrent requests with
the same token share one lookup. A token found valid is
remembered for :data:`CACHE_SECONDS`: a token revoked through another api process keeps
working there for at most that long (the process that revokes it forgets it at once). An
expiry is exact: a remembered token is refused from its ``expires_at`` on, cache or not.

``last_used_at`` is kept coarsely: a lookup (at most one per token every
:data:`CACHE_SECONDS` per process) writes it only when it is older than
:data:`LAST_USED_GRANULARITY`, so a busy token costs one write a minute, not one a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Sessions
from shared.models import ApiToken
from shared.models.base import utcnow
from shared.roles import Role
from shared.shared_lookups import SharedLookups

TOKEN_PREFIX = "ck_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for
TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"ck_[A-Za-z0-9_-]{43}")  # TOKEN_PREFIX + token_urlsafe(32)

CACHE_SECONDS = 10.0
CACHE_SIZE = 1024
LOOKUP_CONCURRENCY = 4
LAST_USED_GRANULARITY = timedelta(minutes=1)

WallClock = Callable[[], datetime]
Lookup = Callable[[Sessions, str, datetime], Awaitable["Principal | None"]]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token (or a process, without a token id), its role and domain
    scope, and for an API call the client's address and the request id."""

    token_id: UUID | None
    name: str
    role: Role
    domains: tuple[str, ...] = ()  # empty: every domain
    expires_at: datetime | None = None
    client_address: str | None = None
    request_id: str | None = None

    @property
    def scoped(self) -> bool:
        return bool(self.domains)


def process_principal(name: str) -> Principal:
    """A process acting on its own (the renewer): every domain, no token."""
    return Principal(token_id=None, name=name, role=Role.ADMIN)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """True when ``token`` has the shape of a token :func:`create_token` hands out."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


async def create_token(
    session: AsyncSession,
    *,
    role: Role,
    name: str,
    domains: Sequence[str] = (),
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token row (flushed, not committed) and the token itself, to be shown once.
    ``domains`` must already be normalized (see shared.domain.scope)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row = ApiToken(name=name, role=role, token_hash=hash_token(token), domains=list(domains),
                   expires_at=expires_at)
    session.add(row)
    await session.flush()
    return row, token


def principal_of(row: ApiToken) -> Principal:
    return Principal(token_id=row.id, name=row.name, role=row.role,
                     domains=tuple(row.domains), expires_at=row.expires_at)


async def authenticate(
    session: AsyncSession, token: str, now: datetime | None = None
) -> Principal | None:
    """The token's principal, or None when it is unknown, revoked or expired. Touches
    ``last_used_at`` when it is older than :data:`LAST_USED_GRANULARITY`."""
    now = now or utcnow()
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
    )
    if row is None:
        return None
    principal = principal_of(row)
    stale = now - LAST_USED_GRANULARITY
    if row.last_used_at is None or row.last_used_at <= stale:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == row.id,
                   or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale))
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    return principal


async def look_up(sessions: Sessions, token: str, now: datetime) -> Principal | None:
    """:func:`authenticate` on a session of its own."""
    async with sessions() as session:
        return await authenticate(session, token, now)


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
        wall_clock: WallClock = utcnow,
        lookup: Lookup | None = None,
    ) -> None:
        self._ttl, self._size, self._clock, self._wall_clock = ttl, size, clock, wall_clock
        self._lookup = lookup or look_up
        self._known: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lookups = asyncio.Semaphore(concurrency)
        # One lookup per token at a time: when a busy token's window ends, the requests
        # that arrive together wait for one lookup instead of queueing one each (behind
        # the bound above and the connection pool), which made a tail of seconds.
        self._pending: SharedLookups[Principal | None] = SharedLookups()

    async def verify(self, sessions: Sessions, token: str) -> Principal | None:
        """The token's principal, or None when it is malformed, unknown, revoked or expired."""
        if not well_formed(token):
            return None
        digest = hash_token(token)
        now = self._wall_clock()
        cached = self._known.get(digest)
        if cached is not None and cached[0] > self._clock():
            if not _expired(cached[1], now):
                return cached[1]
            del self._known[digest]
            return None
        return await self._pending.get(
            digest, lambda: self._look_up(sessions, token, now, digest))

    async def _look_up(self, sessions: Sessions, token: str, now: datetime, digest: str
                       ) -> Principal | None:
        async with self._lookups:
            principal = await self._lookup(sessions, token, now)
        if principal is not None:
            self._remember(digest, principal)
        return principal

    def forget(self, token_id: UUID) -> None:
        """Drop a token from the cache (it was just revoked in this process)."""
        for digest in [d for d, (_, p) in self._known.items() if p.token_id == token_id]:
            del self._known[digest]

    def _remember(self, digest: str, principal: Principal) -> None:
        self._known[digest] = (self._clock() + self._ttl, principal)
        self._known.move_to_end(digest)
        while len(self._known) > self._size:
            self._known.popitem(last=False)


def _expired(principal: Principal, now: datetime) -> bool:
    return principal.expires_at is not None and principal.expires_at <= now
