"""Concurrent lookups of one token share one query; nothing is kept afterwards; a caller
that goes away does not cancel the others."""

from __future__ import annotations

import asyncio

from shared.shared_lookups import SharedLookups


async def test_concurrent_asks_share_one_lookup_and_nothing_is_kept() -> None:
    lookups, calls, release = SharedLookups(), [], asyncio.Event()

    async def lookup() -> str | None:
        calls.append(1)
        await release.wait()
        return "tok.thumbprint"

    asks = [asyncio.create_task(lookups.get("tok", lookup)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*asks) == ["tok.thumbprint"] * 3
    assert len(calls) == 1 and len(lookups) == 0
    assert await lookups.get("tok", lookup) == "tok.thumbprint"
    assert len(calls) == 2  # asked again later: read again


async def test_a_caller_going_away_leaves_the_lookup_to_the_others() -> None:
    lookups, release = SharedLookups(), asyncio.Event()

    async def lookup() -> str | None:
        await release.wait()
        return None

    first = asyncio.create_task(lookups.get("gone", lookup))
    second = asyncio.create_task(lookups.get("gone", lookup))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second is None
