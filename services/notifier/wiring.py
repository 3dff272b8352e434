"""What a notifier process runs, listed once: ``certkeeper worker notifier`` and
``certkeeper all-in-one`` both start it from here. It needs only the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.notifier.context import Notifier
from services.notifier.notifier import run_notifier
from shared.config import Settings
from shared.heap import settle_heap
from shared.metrics_server import metrics_listener
from shared.runtime import Runtime, build_runtime, stop_on_signals


@asynccontextmanager
async def running_notifier(
    settings: Settings, runtime: Runtime, stop: asyncio.Event
) -> AsyncIterator[Notifier]:
    """Run the notifier loop until ``stop`` is set or the block exits."""
    notifier = Notifier(settings, runtime.sessions, runtime.keyring)
    task = asyncio.create_task(run_notifier(notifier, stop), name="notifier")
    try:
        yield notifier
    finally:
        stop.set()
        await task


async def run_notifier_worker(settings: Settings) -> None:
    """``certkeeper worker notifier``: SIGTERM or SIGINT stops it after the current send."""
    stop = stop_on_signals()
    runtime = build_runtime(settings)
    try:
        with metrics_listener(settings):
            async with running_notifier(settings, runtime, stop):
                settle_heap()
                await stop.wait()
    finally:
        await runtime.aclose()
