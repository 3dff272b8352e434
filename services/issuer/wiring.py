"""What an issuer process runs, listed once: its job functions, the context they get, the
sweeper, and what runs the jobs (an arq worker on Redis, or the in-process queue).

``certkeeper worker issuer`` and ``certkeeper all-in-one`` both start the issuer from here,
so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Final

from arq.typing import WorkerCoroutine
from arq.worker import Function, func

from services.issuer.cleanup import cleanup_request
from services.issuer.context import IssuerContext
from services.issuer.deployer import run_deployer
from services.issuer.jobs import advance_request
from services.issuer.sweeper import run_sweeper
from shared import metrics
from shared.config import Settings
from shared.domain.requests import ADVANCE_REQUEST, CLEANUP_REQUEST
from shared.queue import ArqConsumer, ArqQueue, IdleSlowingWorker, InProcessQueue, JobQueue
from shared.runtime import Runtime

logger = logging.getLogger(__name__)



def timed(job: str, function: WorkerCoroutine) -> WorkerCoroutine:
    """The job, its duration and its failures counted (``certkeeper_job_*``)."""

    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return await function(ctx, *args, **kwargs)
        except Exception:
            metrics.JOB_FAILURES.labels(job=job).inc()
            raise
        finally:
            metrics.JOB_DURATION.labels(job=job).observe(time.monotonic() - started)

    return run


JOBS: Final[Mapping[str, WorkerCoroutine]] = {
    ADVANCE_REQUEST: timed("advance", advance_request),
    CLEANUP_REQUEST: timed("cleanup", cleanup_request),
}
# How long a stopping worker lets running jobs finish (keep below the platform's grace period).
JOB_COMPLETION_WAIT_SECONDS: Final = 20.0
JOB_MAX_TRIES: Final = 5


def arq_functions(settings: Settings) -> list[Function]:
    timeout = max(30, int(settings.job_lease_seconds))
    return [func(fn, name=name, timeout=timeout, max_tries=JOB_MAX_TRIES)
            for name, fn in JOBS.items()]


def worker_options(settings: Settings) -> dict[str, Any]:
    """Every keyword given to arq's ``Worker`` besides the pool and the context. Signals are
    ours: the process stops the consumer (see :class:`ArqConsumer`), not arq."""
    return {
        "functions": arq_functions(settings),
        "max_jobs": settings.worker_max_jobs,
        "keep_result": 0,
        "poll_delay": settings.queue_poll_seconds,
        "handle_signals": False,
    }


# Jobs that run at once in one process on SQLite. The database serves one transaction at a
# time (one pooled connection, see shared.db), so more jobs only queue longer and cost more
# CPU: a burst of 100 requests in the all-in-one ran at 21-24 certificates/s with 6 and at
# 17-21 with 20.
SQLITE_JOB_SLOTS = 6
THREAD_START_TIMEOUT_SECONDS = 30.0


def jobs_at_once(settings: Settings) -> int:
    """How many jobs run at once in this process: arq's ``max_jobs`` with Redis; in the
    process's own queue, fewer on SQLite."""
    if settings.redis_url is not None or not settings.embedded_database:
        return settings.worker_max_jobs
    return min(settings.worker_max_jobs, SQLITE_JOB_SLOTS)


async def size_thread_pool(threads: int, started: int) -> None:
    """ACME steps run in threads: ``threads`` of them, one per job, so no job waits for a
    thread. ``started`` (as many as jobs run at once in this process) are started here,
    before any job and off the event loop: a pool starts its threads one at a time as work
    arrives, and each start waits for the new thread to get the GIL while the others run,
    so the first burst after a start stalled the event loop once per thread (in production,
    the first burst of 100 after a start ran at 26-27 certificates/s, and at 28-31 with the
    threads started)."""
    pool = await asyncio.to_thread(_started_pool, threads, started)
    asyncio.get_running_loop().set_default_executor(pool)


def _started_pool(threads: int, started: int) -> ThreadPoolExecutor:
    pool = ThreadPoolExecutor(max_workers=threads)
    all_running = threading.Barrier(started + 1, timeout=THREAD_START_TIMEOUT_SECONDS)
    for _ in range(started):
        pool.submit(all_running.wait)  # none ends before all run: each needs a new thread
    all_running.wait()
    return pool


@asynccontextmanager
async def running_issuer(
    settings: Settings, runtime: Runtime, stop: asyncio.Event
) -> AsyncIterator[JobQueue]:
    """Run the issuer until ``stop`` is set or the block exits; yields the queue that rings it.

    With ``CERTKEEPER_REDIS_URL`` the jobs run in an arq worker that waits for Redis at start
    and rides out its outages; without it, in this event loop. On exit, running jobs may
    finish (up to ``JOB_COMPLETION_WAIT_SECONDS``), then the sweeper stops and the queue closes.
    """
    await size_thread_pool(settings.worker_max_jobs, jobs_at_once(settings))
    ctx: dict[str, Any] = {}
    queue: JobQueue
    if settings.redis_url is None:
        queue = InProcessQueue(JOBS, ctx, jobs_at_once(settings))
    else:
        queue = await ArqQueue.connect(settings.redis_url, wait_until=stop)
    ctx["issuer"] = issuer = IssuerContext(
        settings, runtime.sessions, runtime.keyring, queue, runtime.acme, runtime.dns
    )
    tasks = [asyncio.create_task(run_sweeper(issuer, stop), name="sweeper"),
             asyncio.create_task(run_deployer(issuer, stop), name="deployer")]
    if isinstance(queue, ArqQueue):
        # The context is complete before arq sees it: arq swaps a falsy ctx for its own.
        worker = IdleSlowingWorker(**worker_options(settings), redis_pool=queue.redis,
                                   ctx=ctx)
        consumer = ArqConsumer(worker, queue.redis, JOB_COMPLETION_WAIT_SECONDS)
        tasks.append(asyncio.create_task(consumer.run(stop), name="arq-consumer"))
        tasks[-1].add_done_callback(lambda task: _consumer_ended(task, stop))
    try:
        yield queue
    finally:
        stop.set()
        ended = await asyncio.gather(*tasks, return_exceptions=True)
        await queue.aclose()
    for outcome in ended:
        if isinstance(outcome, Exception):
            raise outcome  # a consumer that failed fails the process (non-zero exit)


def _consumer_ended(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("issuer.consumer_failed", exc_info=task.exception())
    stop.set()
