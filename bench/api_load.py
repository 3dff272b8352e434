"""The load driver of ``bench.api_scale``, run as its own process: C concurrent clients
fetch each page R times through the API, then the same SQL R times over raw asyncpg (one
connection per client); prints one JSON list of per-page latency figures on stdout."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import orjson

from bench.api_pages import PAGE_SIZE, ROUNDS, Page, pages


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def timed(clients: int, rounds: int, one: Callable[[int], Awaitable[int]]) -> list[float]:
    """``clients`` tasks each calling ``one`` ``rounds`` times; every call's seconds.

    The driver's garbage collector is off while it times, as ``timeit``'s is: with the
    pages' bodies about, its full collections took 70-80 ms every 0.3-1.5 s and stalled
    every call in flight, on whichever side (API or raw) was being timed, which moved the
    p99 of either by tens of milliseconds from run to run."""
    samples: list[float] = []

    async def client(index: int) -> None:
        for _ in range(rounds):
            began = time.perf_counter()
            await one(index)
            samples.append(time.perf_counter() - began)

    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        gc.enable()
    return samples


# Each side's rounds run in blocks of this many, the API's and raw's taking turns: a spell
# of load from elsewhere on the machine (a neighbour, Postgres's checkpointer, autovacuum)
# then falls on both sides, not on whichever happened to run through it. Run one after the
# other, the two sides' p99s moved apart by up to a third from run to run.
BLOCK_ROUNDS = 10


def blocks(rounds: int) -> list[int]:
    """``rounds`` as blocks of at most :data:`BLOCK_ROUNDS`."""
    return [min(BLOCK_ROUNDS, rounds - done) for done in range(0, rounds, BLOCK_ROUNDS)]


async def measure(url: str, token: str, dsn: str, page_list: list[Page], clients: int,
                  rounds: int) -> list[dict[str, float | str]]:
    results: list[dict[str, float | str]] = []
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"Authorization": f"Bearer {token}"}
    pool = await asyncpg.create_pool(dsn, min_size=clients, max_size=clients)
    connections = [await pool.acquire() for _ in range(clients)]
    try:
        async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
            for page in page_list:
                expected = len(await connections[0].fetch(page.sql, *page.params))

                async def via_api(_index: int, page: Page = page, expected: int = expected
                                  ) -> int:
                    async with http.get(f"{url}/v1/certificates?{page.query}") as answer:
                        body = orjson.loads(await answer.read())
                    if answer.status != 200 or len(body["items"]) != min(expected, PAGE_SIZE):
                        raise SystemExit(f"{page.name}: {answer.status} {str(body)[:300]}")
                    return len(body["items"])

                async def via_raw(index: int, page: Page = page) -> int:
                    return len(await connections[index].fetch(page.sql, *page.params))

                await timed(clients, 1, via_api)  # warm: connections, statement caches
                await timed(clients, 1, via_raw)
                api: list[float] = []
                raw: list[float] = []
                for block in blocks(rounds):  # both sides through the same spells of load
                    api += await timed(clients, block, via_api)
                    raw += await timed(clients, block, via_raw)
                results.append({
                    "page": page.name,
                    "api_p50": statistics.median(api) * 1000, "api_p99": percentile(api, 0.99),
                    "raw_p50": statistics.median(raw) * 1000, "raw_p99": percentile(raw, 0.99),
                    "ratio_p99": percentile(api, 0.99) / percentile(raw, 0.99),
                })
    finally:
        for conn in connections:
            await pool.release(conn)
        await pool.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--sqlalchemy-url", required=True)
    parser.add_argument("--now", required=True, type=datetime.fromisoformat)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    token = os.environ["CERTKEEPER_BENCH_TOKEN"]

    async def run() -> list[dict[str, float | str]]:
        page_list = await pages(args.sqlalchemy_url, args.now)
        return await measure(args.url, token, args.dsn, page_list, args.clients, args.rounds)

    print(json.dumps(asyncio.run(run())))


if __name__ == "__main__":
    main()
