"""Idle ACME conversations kept for the next job of the same account.

Opening a conversation costs a TLS handshake and a HEAD for a fresh nonce before the first
POST; an issuer step makes only a few POSTs, so that was a third of its CA traffic. A
conversation given back after a job keeps its keep-alive connection and the last
``Replay-Nonce`` the CA sent, and the next job of the same account (same CA, same key)
takes it instead of opening one. A conversation is used by one job at a time: it is taken
out of the pool for the job and given back when the job closes it.

A conversation idle for longer than ``max_idle_seconds`` is closed rather than reused (its
connection and nonce are likely stale; a stale nonce would only cost a badNonce retry).
The pool is bounded: ``per_key`` idle conversations per account and ``keys`` accounts,
the least recently used account's conversations closed first.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    def shutdown(self) -> None:
        """Close the connections for good."""
        ...


@dataclass(frozen=True)
class PoolKey:
    """Which conversations may stand in for each other: same CA, same account key and
    account."""

    directory_url: str
    key_digest: bytes
    account_url: str | None

    @classmethod
    def of(cls, directory_url: str, key_pem: bytes, account_url: str | None) -> PoolKey:
        return cls(directory_url, hashlib.sha256(key_pem).digest(), account_url)


C = TypeVar("C", bound=Closable)


class ConversationPool(Generic[C]):
    """Idle conversations by account, freshest first."""

    def __init__(
        self,
        *,
        per_key: int = 16,
        keys: int = 64,
        max_idle_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_key = per_key
        self._keys = keys
        self._max_idle = max_idle_seconds
        self._clock = clock
        self._idle: OrderedDict[PoolKey, list[tuple[float, C]]] = OrderedDict()

    def take(self, key: PoolKey) -> C | None:
        """An idle conversation of this account, or None; stale ones are closed."""
        idle = self._idle.get(key)
        if not idle:
            return None
        self._idle.move_to_end(key)
        oldest_fresh = self._clock() - self._max_idle
        while idle:
            given_at, conversation = idle.pop()
            if given_at >= oldest_fresh:
                return conversation
            conversation.shutdown()
        return None

    def give(self, key: PoolKey, conversation: C) -> None:
        """Keep ``conversation`` for the next job of its account."""
        idle = self._idle.setdefault(key, [])
        self._idle.move_to_end(key)
        idle.append((self._clock(), conversation))
        while len(idle) > self._per_key:
            idle.pop(0)[1].shutdown()
        while len(self._idle) > self._keys:
            for _, evicted in self._idle.popitem(last=False)[1]:
                evicted.shutdown()

    def close(self) -> None:
        while self._idle:
            for _, conversation in self._idle.popitem()[1]:
                conversation.shutdown()

    def __len__(self) -> int:
        return sum(len(idle) for idle in self._idle.values())
