"""The pool of idle ACME conversations: reuse by account, freshest first, stale ones and
those over the bounds closed."""

from __future__ import annotations

from dataclasses import dataclass

from shared.acme_pool import ConversationPool, PoolKey


@dataclass(eq=False)
class Conversation:
    name: str
    closed: bool = False

    def shutdown(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ONE = PoolKey.of("https://ca.test/dir", b"key one", "https://ca.test/acct/1")
TWO = PoolKey.of("https://ca.test/dir", b"key two", "https://ca.test/acct/2")


def test_an_account_gets_back_its_own_conversation_freshest_first() -> None:
    pool: ConversationPool[Conversation] = ConversationPool()
    older, newer, other = Conversation("older"), Conversation("newer"), Conversation("other")
    pool.give(ONE, older)
    pool.give(ONE, newer)
    pool.give(TWO, other)
    assert pool.take(ONE) is newer
    assert pool.take(ONE) is older
    assert pool.take(ONE) is None
    assert pool.take(TWO) is other
    assert not any(c.closed for c in (older, newer, other))


def test_the_same_key_at_another_ca_or_account_is_another_conversation() -> None:
    assert PoolKey.of("https://a.test/dir", b"k", None) != PoolKey.of("https://b.test/dir", b"k",
                                                                       None)
    assert PoolKey.of("https://a.test/dir", b"k", None) != PoolKey.of("https://a.test/dir", b"k",
                                                                       "https://a.test/acct/1")
    assert PoolKey.of("https://a.test/dir", b"k", None) == PoolKey.of("https://a.test/dir", b"k",
                                                                       None)


def test_a_conversation_idle_too_long_is_closed_not_reused() -> None:
    clock = Clock()
    pool: ConversationPool[Conversation] = ConversationPool(max_idle_seconds=30, clock=clock)
    stale, fresh = Conversation("stale"), Conversation("fresh")
    pool.give(ONE, stale)
    clock.now += 31
    assert pool.take(ONE) is None
    assert stale.closed
    pool.give(ONE, fresh)
    clock.now += 30
    assert pool.take(ONE) is fresh


def test_bounds_close_the_oldest_conversation_and_the_least_recent_account() -> None:
    pool: ConversationPool[Conversation] = ConversationPool(per_key=2, keys=2)
    first, second, third = Conversation("1"), Conversation("2"), Conversation("3")
    for conversation in (first, second, third):
        pool.give(ONE, conversation)
    assert first.closed and not second.closed and len(pool) == 2
    pool.give(TWO, Conversation("two"))
    pool.take(ONE)  # ONE is now the most recently used account
    third_key = PoolKey.of("https://ca.test/dir", b"key three", None)
    pool.give(third_key, Conversation("three"))
    assert pool.take(TWO) is None  # evicted, its conversation closed
    assert pool.take(ONE) is second


def test_close_shuts_every_idle_conversation() -> None:
    pool: ConversationPool[Conversation] = ConversationPool()
    conversations = [Conversation(str(i)) for i in range(3)]
    for conversation in conversations:
        pool.give(ONE, conversation)
    pool.close()
    assert all(c.closed for c in conversations) and len(pool) == 0
