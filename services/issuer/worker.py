"""``certkeeper worker issuer``: the arq worker that runs issuer jobs, plus the sweeper."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from signal import Signals

from arq.worker import Function, Worker, func

from services.issuer.context import IssuerContext
from services.issuer.jobs import advance_request
from services.issuer.sweeper import run_sweeper
from shared.config import Settings
from shared.errors import ConfigError
from shared.queue import ArqQueue
from shared.runtime import build_runtime
from shared.services.requests import ADVANCE_REQUEST

JOB_COMPLETION_WAIT_SECONDS = 20


def issuer_functions(settings: Settings) -> list[Function]:
    timeout = max(30, int(settings.job_lease_seconds))
    return [func(advance_request, name=ADVANCE_REQUEST, timeout=timeout, max_tries=5)]


def size_thread_pool(max_jobs: int) -> None:
    """ACME steps run in threads: one per concurrent job, so no job waits for a thread."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=max_jobs))


async def run_issuer_worker(settings: Settings) -> None:
    if settings.redis_url is None:
        raise ConfigError("CERTKEEPER_REDIS_URL is required for `worker issuer`")
    runtime = build_runtime(settings)
    queue = await ArqQueue.connect(settings.redis_url)
    ctx = IssuerContext(settings, runtime.sessions, runtime.keyring, queue, runtime.acme)
    size_thread_pool(settings.worker_max_jobs)
    worker = Worker(
        functions=issuer_functions(settings),
        redis_pool=queue.redis,
        ctx={"issuer": ctx},
        max_jobs=settings.worker_max_jobs,
        keep_result=0,
        poll_delay=settings.queue_poll_seconds,
        job_completion_wait=JOB_COMPLETION_WAIT_SECONDS,
        handle_signals=True,
    )
    stop = asyncio.Event()

    def on_stop(_sig: Signals) -> None:
        stop.set()

    worker.on_stop = on_stop
    sweeper = asyncio.create_task(run_sweeper(ctx, stop))
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await worker.async_run()
    finally:
        stop.set()
        await sweeper
        await worker.close()
        await runtime.aclose()
