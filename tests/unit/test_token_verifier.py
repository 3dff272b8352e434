"""The token cache: a token is remembered for its window, never past its expiry, and
forgotten at once by the process that revokes it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from shared.domain.tokens import CACHE_SECONDS, Principal, TokenVerifier
from shared.roles import Role

TOKEN = "ck_" + "a" * 43


class Lookups:
    """The database's answer, as the verifier's lookup sees it, and how often it asked."""

    def __init__(self, principal: Principal | None) -> None:
        self.principal = principal
        self.count = 0

    async def __call__(self, _sessions: Any, _token: str, _now: datetime) -> Principal | None:
        self.count += 1
        return self.principal


class Clocks:
    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = datetime(2030, 1, 1, tzinfo=UTC)


def verifier(clocks: Clocks, lookups: Lookups) -> TokenVerifier:
    return TokenVerifier(clock=lambda: clocks.mono, wall_clock=lambda: clocks.wall,
                         lookup=lookups)


SESSIONS: Any = None  # the lookup is the verifier's only use of them


async def test_a_known_token_is_looked_up_once_per_window() -> None:
    clocks, principal = Clocks(), Principal(uuid4(), "ci", Role.VIEWER)
    lookups = Lookups(principal)
    tokens = verifier(clocks, lookups)
    assert await tokens.verify(SESSIONS, TOKEN) == principal
    assert await tokens.verify(SESSIONS, TOKEN) == principal
    assert lookups.count == 1
    clocks.mono += CACHE_SECONDS + 0.1
    lookups.principal = None  # revoked elsewhere: seen once the window has passed
    assert await tokens.verify(SESSIONS, TOKEN) is None
    assert lookups.count == 2


async def test_an_expiry_is_exact_even_inside_the_window() -> None:
    clocks = Clocks()
    principal = Principal(uuid4(), "ci", Role.VIEWER,
                          expires_at=clocks.wall + timedelta(seconds=2))
    lookups = Lookups(principal)
    tokens = verifier(clocks, lookups)
    assert await tokens.verify(SESSIONS, TOKEN) == principal
    clocks.wall += timedelta(seconds=2)
    clocks.mono += 1  # still inside the cache window
    assert await tokens.verify(SESSIONS, TOKEN) is None


async def test_the_revoking_process_forgets_the_token_at_once() -> None:
    clocks, principal = Clocks(), Principal(uuid4(), "ci", Role.VIEWER)
    lookups = Lookups(principal)
    tokens = verifier(clocks, lookups)
    assert await tokens.verify(SESSIONS, TOKEN) == principal
    lookups.principal = None
    assert principal.token_id is not None
    tokens.forget(principal.token_id)
    assert await tokens.verify(SESSIONS, TOKEN) is None


class SlowLookups(Lookups):
    """A lookup that waits until the test lets it answer."""

    def __init__(self, principal: Principal | None) -> None:
        super().__init__(principal)
        self.release = asyncio.Event()

    async def __call__(self, _sessions: Any, _token: str, _now: datetime) -> Principal | None:
        self.count += 1
        await self.release.wait()
        return self.principal


async def test_concurrent_requests_with_one_token_share_one_lookup() -> None:
    clocks, principal = Clocks(), Principal(uuid4(), "ci", Role.VIEWER)
    lookups = SlowLookups(principal)
    tokens = verifier(clocks, lookups)
    waiting = [asyncio.create_task(tokens.verify(SESSIONS, TOKEN)) for _ in range(50)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # a client that went away does not cancel the others' lookup
    lookups.release.set()
    answers = await asyncio.gather(*waiting[1:])
    assert answers == [principal] * 49
    assert lookups.count == 1
    clocks.mono += CACHE_SECONDS + 0.1
    assert await tokens.verify(SESSIONS, TOKEN) == principal  # a new window: a new lookup
    assert lookups.count == 2
