"""Issue 12's targets 3 and 4 on one seeded Postgres: the certificate list at scale
(``bench.api_scale``'s load driver) and the renewer's claim (``bench.renewer_pass``).

The database is migrated and seeded once by :mod:`bench.seed` (COPY, about 1 % due); the
API part runs first, as the renewer part changes rows (claims, renewal requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from bench import api_scale
from bench.api_scale import Result
from bench.figures import Figure, at_most
from bench.renewer_pass import count_due, measure
from bench.seed import seed
from shared.migrate import upgrade
from tests.harness.postgres import PostgresServer, postgres_server

API_TIMES = 3.0  # raw asyncpg's p99
DEEP_TIMES = 1.5  # "the first and the last page cost the same", with room for noise
CLAIM_TIMES = 2.0  # raw SQL's claim
FILTERED = ("expires_before", "status=revoked", "domain")  # the pages the target names


@contextlib.contextmanager
def seeded_postgres(total: int, now: datetime) -> Iterator[PostgresServer]:
    with postgres_server() as pg:
        upgrade(pg.sqlalchemy_url)
        seconds = asyncio.run(seed(pg.dsn, total, now))
        print(f"seeded {total:,} certificates with COPY in {seconds:.0f} s", flush=True)
        yield pg


def api_figures(results: list[Result], clients: int) -> list[Figure]:
    """p99 of every page against raw asyncpg (target on the filtered ones), and each deep
    page's p50 against its first page's."""
    found, first = [], {}
    for result in results:
        name, _, depth = result.page.rpartition(" ")
        api_p50, api_p99 = result.certkeeper_p50, result.certkeeper
        target = at_most(API_TIMES) if name in FILTERED else None
        found.append(Figure(f"API p99, {result.page} page, {clients} clients", api_p99, "ms",
                            result.reference, "raw asyncpg", target))
        if depth == "first":
            first[name] = api_p50
        elif name in first:
            found.append(Figure(f"API p50, {name} deep page vs first", api_p50, "ms",
                                first[name], "first page", at_most(DEEP_TIMES)))
    return found


def renewer_figures(pg: PostgresServer, total: int, rounds: int, pass_limit: int | None
                    ) -> list[Figure]:
    due = asyncio.run(count_due(pg, datetime.now(UTC)))
    done = asyncio.run(measure(pg, total, due, rounds, pass_limit))
    return [
        Figure(f"renewer claim of {done.due:,} due in {total:,}", done.claim_seconds * 1000,
               "ms", done.raw_seconds * 1000, "raw SQL", at_most(CLAIM_TIMES)),
        Figure(f"renewer whole pass, {done.pass_started:,} renewals started",
               done.pass_started / done.pass_seconds, "cert/s"),
        Figure("renewer whole pass, peak Python allocation", done.pass_peak_mib, "MiB"),
        Figure(f"renewer pass with nothing due over {total:,}", done.idle_ms, "ms"),
    ]


def run(total: int, clients: int, rounds: int, renewer_rounds: int, pass_limit: int | None,
        parts: set[str]) -> list[Figure]:
    """The figures of the ``api`` and ``renewer`` parts named in ``parts``."""
    now = datetime.now(UTC)
    figures: list[Figure] = []
    with seeded_postgres(total, now) as pg:
        if "api" in parts:
            began = time.monotonic()
            figures += api_figures(api_scale.run(pg, clients, rounds), clients)
            print(f"API part: {time.monotonic() - began:.0f} s", flush=True)
        if "renewer" in parts:
            began = time.monotonic()
            figures += renewer_figures(pg, total, renewer_rounds, pass_limit)
            print(f"renewer part: {time.monotonic() - began:.0f} s", flush=True)
    return figures
