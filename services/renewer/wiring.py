"""What a renewer runs, listed once. ``certkeeper worker renewer`` and ``certkeeper
all-in-one`` both start it from here; it rings the issuer through the queue it is given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.renewer.renewer import Renewer, run_renewer
from shared.config import Settings
from shared.errors import ConfigError
from shared.heap import settle_heap
from shared.metrics_server import metrics_listener
from shared.queue import QUEUE_ERRORS, ArqQueue, JobQueue
from shared.runtime import Runtime, build_runtime, stop_on_signals


@asynccontextmanager
async def running_renewer(
    settings: Settings, runtime: Runtime, queue: JobQueue, stop: asyncio.Event
) -> AsyncIterator[Renewer]:
    """Run the renewer loop until ``stop`` is set or the block exits."""
    renewer = Renewer(settings, runtime.sessions, queue, runtime.acme)
    task = asyncio.create_task(run_renewer(renewer, stop), name="renewer")
    try:
        yield renewer
    finally:
        stop.set()
        await task


async def run_renewer_worker(settings: Settings) -> None:
    """``certkeeper worker renewer``: SIGTERM or SIGINT stops it after the current pass."""
    if settings.redis_url is None:
        raise ConfigError("CERTKEEPER_REDIS_URL is required for `worker renewer`")
    stop = stop_on_signals()
    runtime = build_runtime(settings)
    try:
        queue = await ArqQueue.connect(settings.redis_url, wait_until=stop)
    except QUEUE_ERRORS:
        await runtime.aclose()
        if not stop.is_set():
            raise
        return
    try:
        with metrics_listener(settings):
            async with running_renewer(settings, runtime, queue, stop):
                settle_heap()
                await stop.wait()
    finally:
        await queue.aclose()
        await runtime.aclose()
