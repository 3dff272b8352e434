"""Long polls wait on events; one check per interval serves every waiting agent."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from services.api.agent_waiters import AgentWaiters


class Finder:
    """Stands in for the database query: records each call, reports ``busy`` agents."""

    def __init__(self) -> None:
        self.calls: list[set[UUID]] = []
        self.busy: set[UUID] = set()

    async def __call__(self, _sessions: Any, agent_ids: Collection[UUID], _now: datetime
                       ) -> set[UUID]:
        self.calls.append(set(agent_ids))
        return self.busy & set(agent_ids)


async def test_fifty_waiting_agents_cost_one_check_per_interval() -> None:
    finder = Finder()
    waiters = AgentWaiters(check_seconds=0.1, find_busy=finder)
    agents = [uuid4() for _ in range(50)]

    woken = await asyncio.gather(*(waiters.wait(None, a, 0.45) for a in agents))  # type: ignore[arg-type]
    await waiters.aclose()

    assert woken == [False] * 50
    assert 3 <= len(finder.calls) <= 6  # not 50 per interval
    assert finder.calls[0] == set(agents)
    assert waiters.waiting == set()


async def test_an_agent_with_work_is_woken_at_the_next_check() -> None:
    finder = Finder()
    waiters = AgentWaiters(check_seconds=0.05, find_busy=finder)
    idle, busy = uuid4(), uuid4()
    finder.busy = {busy}
    loop = asyncio.get_running_loop()
    started = loop.time()

    results = await asyncio.gather(waiters.wait(None, busy, 5.0),  # type: ignore[arg-type]
                                   waiters.wait(None, idle, 0.3))  # type: ignore[arg-type]
    await waiters.aclose()

    assert results == [True, False]
    assert loop.time() - started < 1.0


async def test_a_failing_check_leaves_the_polls_to_time_out() -> None:
    async def broken(*_args: Any) -> set[UUID]:
        raise OSError("database down")

    waiters = AgentWaiters(check_seconds=0.05, find_busy=broken)

    assert await waiters.wait(None, uuid4(), 0.2) is False  # type: ignore[arg-type]
    await waiters.aclose()
