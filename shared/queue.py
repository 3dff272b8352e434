"""The job queue: a doorbell that carries ids only. arq on Redis, or in-process.

Both run the same job functions ``async def fn(ctx, arg: str) -> None`` and collapse
duplicates by job id. Losing a job loses nothing: the database holds the work and the
sweeper rings again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from arq.connections import ArqRedis, RedisSettings, create_pool

logger = logging.getLogger(__name__)

JobFunction = Callable[[dict[str, Any], str], Awaitable[None]]


class JobQueue(Protocol):
    async def enqueue(self, function: str, arg: str, *, job_id: str, defer_by: float = 0.0) -> bool:
        """Ask for ``function(arg)`` to run after ``defer_by`` seconds; False if a job with
        this id is already waiting."""
        ...

    async def ping(self) -> None:
        """Raise if the queue cannot take jobs."""
        ...

    async def aclose(self) -> None: ...


class ArqQueue:
    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis

    @classmethod
    async def connect(cls, url: str) -> ArqQueue:
        settings = RedisSettings.from_dsn(url)
        settings.conn_retries = 1
        return cls(await create_pool(settings))

    async def enqueue(self, function: str, arg: str, *, job_id: str, defer_by: float = 0.0) -> bool:
        job = await self.redis.enqueue_job(
            function, arg, _job_id=job_id, _defer_by=defer_by if defer_by > 0 else None
        )
        return job is not None

    async def ping(self) -> None:
        await self.redis.ping()

    async def aclose(self) -> None:
        await self.redis.aclose()


class InProcessQueue:
    """Runs jobs as tasks of this event loop, at most ``max_jobs`` at a time."""

    def __init__(self, functions: Mapping[str, JobFunction], ctx: dict[str, Any], max_jobs: int):
        self._functions = dict(functions)
        self._ctx = ctx
        self._slots = asyncio.Semaphore(max_jobs)
        self._waiting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, function: str, arg: str, *, job_id: str, defer_by: float = 0.0) -> bool:
        if function not in self._functions:
            raise KeyError(f"no job function named {function!r}")
        if job_id in self._waiting:
            return False
        self._waiting.add(job_id)
        task = asyncio.create_task(self._run(function, arg, job_id, defer_by), name=job_id)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, function: str, arg: str, job_id: str, defer_by: float) -> None:
        try:
            if defer_by > 0:
                await asyncio.sleep(defer_by)
            async with self._slots:
                self._waiting.discard(job_id)
                await self._functions[function](self._ctx, arg)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("queue.job_failed", extra={"job_id": job_id})
        finally:
            self._waiting.discard(job_id)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
