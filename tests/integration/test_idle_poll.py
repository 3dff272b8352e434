"""An idle arq worker polls Redis less, and a job that comes after a quiet spell still starts
within the idle poll, after which the polls are fast again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from arq.connections import ArqRedis
from arq.worker import func

from shared.queue import (
    IDLE_AFTER_SECONDS,
    IDLE_POLL_SECONDS,
    ArqQueue,
    IdleSlowingWorker,
    idle_extra_wait,
)
from tests.harness.redis import redis_server

BUSY_POLL = 0.02


def test_the_extra_wait_starts_after_the_quiet_spell() -> None:
    assert idle_extra_wait(0.0, BUSY_POLL) == 0.0
    assert idle_extra_wait(IDLE_AFTER_SECONDS - 0.01, BUSY_POLL) == 0.0
    assert idle_extra_wait(IDLE_AFTER_SECONDS, BUSY_POLL) == IDLE_POLL_SECONDS - BUSY_POLL
    assert idle_extra_wait(3600.0, BUSY_POLL) == IDLE_POLL_SECONDS - BUSY_POLL
    assert idle_extra_wait(3600.0, 1.0) == 0.0  # a busy poll slower than the idle one stays


async def _polls(redis: ArqRedis) -> int:
    """How many times the queue has been read (arq reads it with ZRANGEBYSCORE)."""
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_zrangebyscore", {}).get("calls", 0))


async def _polls_over(redis: ArqRedis, seconds: float) -> int:
    before = await _polls(redis)
    await asyncio.sleep(seconds)
    return await _polls(redis) - before


async def test_an_idle_worker_polls_less_and_still_picks_up_a_job() -> None:
    ran = asyncio.Event()
    ran_at: list[float] = []

    async def ring(ctx: dict[str, Any], arg: str) -> None:
        ran_at.append(time.monotonic())
        ran.set()

    with redis_server() as server:
        queue = await ArqQueue.connect(server.url)
        worker = IdleSlowingWorker(functions=[func(ring, name="ring")], redis_pool=queue.redis,
                                   poll_delay=BUSY_POLL, keep_result=0, handle_signals=False)
        polling = asyncio.create_task(worker.main())
        try:
            fresh = await _polls_over(queue.redis, 1.0)
            await asyncio.sleep(IDLE_AFTER_SECONDS)
            idle = await _polls_over(queue.redis, 1.0)
            rung = time.monotonic()
            assert await queue.enqueue("ring", "x", job_id="after-quiet")
            await asyncio.wait_for(ran.wait(), 5)
            woken = await _polls_over(queue.redis, 1.0)
        finally:
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
            await queue.aclose()
    assert fresh >= 20, fresh  # every 20 ms while not yet idle: about 50 a second
    assert idle <= 1 / IDLE_POLL_SECONDS + 2, idle
    assert ran_at[0] - rung < IDLE_POLL_SECONDS + 0.25, ran_at[0] - rung
    assert woken >= 20, woken
