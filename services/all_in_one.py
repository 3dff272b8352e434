"""``certkeeper all-in-one``: api + issuer (+ sweeper) + renewer + notifier in one process.

Embedded defaults: SQLite in the data dir (migrated at start) and an in-process queue. With
``CERTKEEPER_REDIS_URL`` set, the same process runs the issuer's arq worker instead, wired
exactly as ``certkeeper worker issuer`` is (``services.issuer.wiring``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.api.app import ResourcesFactory
from services.api.deps import AppResources
from services.issuer.wiring import running_issuer
from services.notifier.wiring import running_notifier
from services.renewer.wiring import running_renewer
from shared.config import Settings
from shared.migrate import upgrade_async
from shared.runtime import build_runtime


def embedded_resources(settings: Settings) -> ResourcesFactory:
    @asynccontextmanager
    async def opened() -> AsyncIterator[AppResources]:
        runtime = build_runtime(settings)
        try:
            if settings.embedded_database:
                await upgrade_async(settings.sqlalchemy_url)
            stop = asyncio.Event()
            async with (
                running_issuer(settings, runtime, stop) as queue,
                running_renewer(settings, runtime, queue, stop),
                running_notifier(settings, runtime, stop),
            ):
                yield AppResources(runtime=runtime, queue=queue)
        finally:
            await runtime.aclose()

    return opened
