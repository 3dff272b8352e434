"""``certkeeper all-in-one``: api + issuer (+ sweeper) in one process.

Embedded defaults: SQLite in the data dir (migrated at start) and an in-process queue. With
``CERTKEEPER_REDIS_URL`` set, the same process runs an arq worker instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from arq.worker import Worker

from services.api.app import ServicesFactory
from services.api.deps import AppServices
from services.issuer.context import IssuerContext
from services.issuer.jobs import advance_request
from services.issuer.sweeper import run_sweeper
from services.issuer.worker import issuer_functions, size_thread_pool
from shared.config import Settings
from shared.migrate import upgrade_async
from shared.queue import ArqQueue, InProcessQueue, JobQueue
from shared.runtime import Runtime, build_runtime
from shared.services.requests import ADVANCE_REQUEST


def embedded_services(settings: Settings) -> ServicesFactory:
    @asynccontextmanager
    async def opened() -> AsyncIterator[AppServices]:
        runtime = build_runtime(settings)
        if settings.embedded_database:
            await upgrade_async(settings.sqlalchemy_url)
        size_thread_pool(settings.worker_max_jobs)
        async with _issuer(settings, runtime) as queue:
            try:
                yield AppServices(runtime=runtime, queue=queue)
            finally:
                await runtime.aclose()

    return opened


@asynccontextmanager
async def _issuer(settings: Settings, runtime: Runtime) -> AsyncIterator[JobQueue]:
    ctx: dict[str, Any] = {}
    queue: JobQueue
    worker_task: asyncio.Task[None] | None = None
    if settings.redis_url is None:
        queue = InProcessQueue({ADVANCE_REQUEST: advance_request}, ctx, settings.worker_max_jobs)
    else:
        arq_queue = await ArqQueue.connect(settings.redis_url)
        worker = Worker(
            functions=issuer_functions(settings), redis_pool=arq_queue.redis, ctx=ctx,
            max_jobs=settings.worker_max_jobs, keep_result=0,
            poll_delay=settings.queue_poll_seconds, handle_signals=False,
        )
        worker_task = asyncio.create_task(worker.async_run())
        queue = arq_queue
    ctx["issuer"] = IssuerContext(settings, runtime.sessions, runtime.keyring, queue, runtime.acme)
    stop = asyncio.Event()
    sweeper = asyncio.create_task(run_sweeper(ctx["issuer"], stop))
    try:
        yield queue
    finally:
        stop.set()
        await sweeper
        if worker_task is not None:
            worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker_task
        await queue.aclose()
