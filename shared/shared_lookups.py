"""Lookups of one key that are under way at the same time share one query.

Used where many callers ask for the same thing at the same moment: a CA checks an HTTP-01
challenge from several vantage points at once (Pebble asks three times, in parallel), and
the requests of a busy API token arrive together when its cache window ends. The first ask
looks the key up; the asks that arrive while it is under way wait for its answer. Nothing is
kept once the lookup is done: the next ask looks again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class SharedLookups(Generic[V]):
    """At most one lookup per key under way; the others wait for its answer."""

    def __init__(self) -> None:
        self._under_way: dict[str, asyncio.Future[V]] = {}

    async def get(self, key: str, lookup: Callable[[], Awaitable[V]]) -> V:
        """``lookup()``'s answer for ``key``, shared with every concurrent ask. A caller
        that goes away (a client disconnecting) does not cancel the others' lookup."""
        under_way = self._under_way.get(key)
        if under_way is None:
            under_way = asyncio.ensure_future(lookup())
            self._under_way[key] = under_way
            under_way.add_done_callback(lambda done: self._settled(key, done))
        return await asyncio.shield(under_way)

    def _settled(self, key: str, done: asyncio.Future[V]) -> None:
        self._under_way.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: every caller may have gone before it ended

    def __len__(self) -> int:
        return len(self._under_way)
