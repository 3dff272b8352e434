"""The job queue: a doorbell that carries ids only. arq on Redis, or in-process.

Both run the same job functions ``async def fn(ctx, arg: str) -> None`` and collapse
duplicates by job id. Losing a job loses nothing: the database holds the work and the
sweeper rings again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

JobFunction = Callable[[dict[str, Any], str], Awaitable[None]]

# What a Redis outage raises: refused or reset connections, timeouts, a server loading data.
QUEUE_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
RECONNECT_FIRST_SECONDS = 0.25
RECONNECT_MAX_SECONDS = 5.0
# A doorbell that cannot ring in this time is left to the sweeper.
LAZY_CONNECT_TIMEOUT_SECONDS = 2.0
LAZY_SOCKET_TIMEOUT_SECONDS = 5.0
# A worker polls every CERTKEEPER_QUEUE_POLL_SECONDS (20 ms) while it has work or had some
# lately: a request's latency needs that. Idle, those polls cost an issuer 3 % of a core in
# Redis round trips; after this long without a job it polls every IDLE_POLL_SECONDS.
IDLE_AFTER_SECONDS = 2.0
IDLE_POLL_SECONDS = 0.25


def reconnect_delay(failures: int) -> float:
    """Seconds to wait before the next reconnect attempt, after ``failures`` failed ones:
    doubling from a quarter second, capped at five."""
    return min(RECONNECT_FIRST_SECONDS * (1 << min(failures, 16)), RECONNECT_MAX_SECONDS)


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
    async def connect(cls, url: str, *, wait_until: asyncio.Event | None = None) -> ArqQueue:
        """Open a pool on Redis. With ``wait_until``, a Redis that is down is waited for
        (backoff, logged) until it answers; the last error is raised if the event is set
        first. Without it, one retry."""
        settings = RedisSettings.from_dsn(url)
        settings.conn_retries = 1 if wait_until is None else 0
        failures = 0
        while True:
            try:
                return cls(await create_pool(settings))
            except QUEUE_ERRORS as exc:
                if wait_until is None or await _wait(wait_until, reconnect_delay(failures)):
                    raise
                failures += 1
                logger.warning("queue.connect_failed", extra={
                    "failures": failures, "error": _describe(exc),
                })

    @classmethod
    def lazy(cls, url: str) -> ArqQueue:
        """A queue whose connections are made when first used: a process that only rings
        the doorbell (the api) starts while Redis is down and reports not ready until it
        answers; the sweeper rings again for what could not be enqueued meanwhile."""
        return cls(ArqRedis.from_url(
            url, socket_connect_timeout=LAZY_CONNECT_TIMEOUT_SECONDS,
            socket_timeout=LAZY_SOCKET_TIMEOUT_SECONDS,
        ))

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


def idle_extra_wait(idle_for: float, busy_poll: float) -> float:
    """How much longer than the busy poll to wait before the next poll, ``idle_for`` seconds
    after the last job ran."""
    if idle_for < IDLE_AFTER_SECONDS:
        return 0.0
    return max(0.0, IDLE_POLL_SECONDS - busy_poll)


class IdleSlowingWorker(Worker):
    """arq's ``Worker``, polling less once idle (:func:`idle_extra_wait`): a job that comes
    after a quiet spell waits up to ``IDLE_POLL_SECONDS`` to start, then the polls are fast
    again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._busy_at = time.monotonic()

    async def _poll_iteration(self) -> None:
        # arq has no hook for its poll delay; its loop calls this once per poll (a private
        # method: tests/integration/test_idle_poll.py counts the polls in Redis).
        await super()._poll_iteration()
        now = time.monotonic()
        if self.tasks:  # jobs running, the ones just started included
            self._busy_at = now
        extra = idle_extra_wait(now - self._busy_at, self.poll_delay_s)
        if extra:
            await asyncio.sleep(extra)


class ArqConsumer:
    """Runs an arq ``Worker`` until told to stop, riding out Redis outages.

    arq's poll loop (``Worker.main``) ends with the first Redis error. Here the loop is
    started again once Redis answers, after a logged backoff; jobs still running carry on
    meanwhile (they need the database, not Redis), and work whose doorbell was lost is rung
    again by the sweeper. Stopping lets running jobs finish for up to ``completion_wait``
    seconds, as arq's own signal handler would, then cancels the rest (arq runs them again).
    """

    def __init__(self, worker: Worker, redis: ArqRedis, completion_wait: float) -> None:
        self._worker = worker
        self._redis = redis
        self._completion_wait = completion_wait

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            main = asyncio.create_task(self._worker.main(), name="arq-poll")
            try:
                stopped = await _stopped_first(main, stop)
            except BaseException:
                main.cancel()
                raise
            if stopped:
                await self._drain(main)
                return
            error = main.exception()
            if error is None:
                return
            if not isinstance(error, QUEUE_ERRORS):
                raise error
            logger.warning("queue.disconnected", extra={"error": _describe(error)})
            self._forget_finished_jobs()
            await self._reconnect(stop)

    async def _reconnect(self, stop: asyncio.Event) -> None:
        failures = 0
        while not await _wait(stop, reconnect_delay(failures)):
            try:
                await self._redis.ping()
            except QUEUE_ERRORS as exc:
                failures += 1
                logger.info("queue.reconnect_failed", extra={
                    "failures": failures, "retry_in": reconnect_delay(failures),
                    "error": _describe(exc),
                })
                continue
            logger.info("queue.reconnected", extra={"failures": failures})
            return

    def _forget_finished_jobs(self) -> None:
        """Jobs that ended while Redis was gone failed to report; arq would re-raise each of
        their errors in its next poll. They are logged once here instead."""
        for job_id, task in list(self._worker.tasks.items()):
            if task.done():
                del self._worker.tasks[job_id]
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    logger.warning("queue.job_unreported",
                                   extra={"job_id": job_id, "error": _describe(error)})

    async def _drain(self, main: asyncio.Task[None]) -> None:
        self._worker.allow_pick_jobs = False
        running = [task for task in self._worker.tasks.values() if not task.done()]
        if running:
            logger.info("queue.draining", extra={"jobs": len(running),
                                                 "wait_seconds": self._completion_wait})
            _done, late = await asyncio.wait(running, timeout=self._completion_wait)
            for task in late:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)


async def _stopped_first(task: asyncio.Task[None], stop: asyncio.Event) -> bool:
    """Wait until ``task`` ends or ``stop`` is set; True if it was the stop."""
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return not task.done()


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True if it was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
