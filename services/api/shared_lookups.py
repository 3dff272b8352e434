"""Lookups of one HTTP-01 token that are under way at the same time share one query.

A CA checks a challenge from several vantage points at once (Pebble asks three times, in
parallel), so the responder was asked for the same token several times within a
millisecond and read the database for each. Now the first ask looks the token up and the
asks that arrive while it is under way wait for its answer. Nothing is kept once the lookup
is done: the next ask reads the database again, so a request that ended is not answered
for a moment longer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class SharedLookups:
    """At most one lookup per token under way; the others wait for its answer."""

    def __init__(self) -> None:
        self._under_way: dict[str, asyncio.Future[str | None]] = {}

    async def get(self, token: str, lookup: Callable[[], Awaitable[str | None]]) -> str | None:
        """``lookup()``'s answer for ``token``, shared with every concurrent ask. A caller
        that goes away (a client disconnecting) does not cancel the others' lookup."""
        under_way = self._under_way.get(token)
        if under_way is None:
            under_way = asyncio.ensure_future(lookup())
            self._under_way[token] = under_way
            under_way.add_done_callback(lambda _done: self._under_way.pop(token, None))
        return await asyncio.shield(under_way)

    def __len__(self) -> int:
        return len(self._under_way)
