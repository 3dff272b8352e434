"""Long polls of agents, held without blocking the event loop and without one query per
agent: each waiting poll sleeps on its agent's :class:`asyncio.Event`, and one loop per api
process asks the database every :data:`CHECK_SECONDS` which of the waiting agents have work
(one query for all of them), then wakes those polls. Tasks are written by the issuer, often
in another process, so the database is the only place to learn of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from uuid import UUID

from shared.db import Sessions
from shared.domain.agent_tasks import agents_with_work
from shared.models.base import utcnow

logger = logging.getLogger(__name__)

CHECK_SECONDS = 0.5

# Which of these agents have work now: one call per check for every waiting agent.
BusyFinder = Callable[[Sessions, Collection[UUID], datetime], Awaitable[set[UUID]]]


async def busy_agents(sessions: Sessions, agent_ids: Collection[UUID], now: datetime
                      ) -> set[UUID]:
    async with sessions() as session:
        return await agents_with_work(session, agent_ids, now)


class AgentWaiters:
    def __init__(
        self, *, check_seconds: float = CHECK_SECONDS, clock: Callable[[], datetime] = utcnow,
        find_busy: BusyFinder = busy_agents,
    ) -> None:
        self._events: dict[UUID, asyncio.Event] = {}
        self._counts: dict[UUID, int] = {}
        self._check_seconds = check_seconds
        self._clock = clock
        self._find_busy = find_busy
        self._loop: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> set[UUID]:
        return set(self._events)

    async def wait(self, sessions: Sessions, agent_id: UUID, seconds: float) -> bool:
        """Wait until the agent may have work, or ``seconds``. True when woken."""
        self._ensure_loop(sessions)
        event = self._events.setdefault(agent_id, asyncio.Event())
        self._counts[agent_id] = self._counts.get(agent_id, 0) + 1
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
            return True
        except TimeoutError:
            return False
        finally:
            self._counts[agent_id] -= 1
            if self._counts[agent_id] == 0:
                del self._counts[agent_id]
                self._events.pop(agent_id, None)

    def wake(self, agent_id: UUID) -> None:
        """Wake the agent's polls (a task written in this process)."""
        event = self._events.get(agent_id)
        if event is not None:
            event.set()

    def _ensure_loop(self, sessions: Sessions) -> None:
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._check_loop(sessions), name="agent-waiters")

    async def _check_loop(self, sessions: Sessions) -> None:
        while self._events:
            try:
                busy = await self._find_busy(sessions, self.waiting, self._clock())
            except Exception as exc:  # the database is down: polls time out and retry
                logger.warning("agents.check_failed", extra={"error": type(exc).__name__})
                busy = set()
            for agent_id in busy:
                self.wake(agent_id)
            await asyncio.sleep(self._check_seconds)

    async def aclose(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
