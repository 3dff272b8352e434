"""``certkeeper worker issuer``: the arq worker that runs issuer jobs, plus the sweeper.

SIGTERM or SIGINT stops it gracefully: no new jobs, running ones may finish (see
``services.issuer.wiring``). A Redis outage does not stop it.
"""

from __future__ import annotations

from services.issuer.wiring import running_issuer
from shared.config import Settings
from shared.errors import ConfigError
from shared.heap import settle_heap
from shared.metrics_server import metrics_listener
from shared.queue import QUEUE_ERRORS
from shared.runtime import build_runtime, stop_on_signals


async def run_issuer_worker(settings: Settings) -> None:
    if settings.redis_url is None:
        raise ConfigError("CERTKEEPER_REDIS_URL is required for `worker issuer`")
    stop = stop_on_signals()
    runtime = build_runtime(settings)
    try:
        with metrics_listener(settings):
            async with running_issuer(settings, runtime, stop):
                settle_heap()
                await stop.wait()
    except QUEUE_ERRORS:
        # Stopped while waiting for Redis to come up: nothing ran, so nothing is lost.
        if not stop.is_set():
            raise
    finally:
        await runtime.aclose()
