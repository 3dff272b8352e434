"""The certificate list over a large repository, against raw asyncpg sending the same SQL.

Run with ``make bench-api`` or ``.venv/bin/python -m bench.api_scale [--total N]
[--clients C] [--rounds R] [--dsn DSN]``. A throwaway Postgres is started, migrated and
seeded by :mod:`bench.seed` (or ``--dsn`` names a database seeded already); ``certkeeper
api`` is started on it, with a throwaway Redis, which the api requires. Printed:

- ``EXPLAIN (ANALYZE, BUFFERS)`` of every list query the API sends (the statement is built
  by ``shared.domain.certificates`` and compiled for asyncpg, as the api runs it);
- from a second process (``bench.api_load``), C concurrent clients fetching the same page of
  100 R times each: through the API (HTTP, SQL, JSON) and as the compiled SQL sent by raw
  asyncpg over a pool of C connections; p50/p99 of both and the ratio API/raw per page.

Pages: unfiltered, ``expires_before`` (a week ahead), ``status=revoked`` (2 % of rows) and
``domain`` (one certificate); each first page and a deep one (a keyset cursor 90 % of the
way down the filtered list).

:func:`run` is the part another driver calls on a database it seeded (with
:func:`bench.seed.seed`): it returns one :class:`Result` per page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench.api_pages import ROUNDS, Page, explain_sql, pages
from bench.seed import seed
from shared.crypto import new_key_spec
from shared.migrate import upgrade
from tests.e2e.stack import CERTKEEPER, run_cli
from tests.harness.ports import free_port
from tests.harness.postgres import PostgresServer, postgres_server
from tests.harness.process import child_env, run_process, temp_dir
from tests.harness.redis import redis_server

LIST_INDEXES = ("ix_certificates_created_at_id_not_after",
                "ix_certificates_status_created_at_id")
TARGET_RATIO = 3.0  # issue 12: the API's p99 at most 3x raw asyncpg's


@dataclass(frozen=True)
class Result:
    """One page: the API's p99 against raw asyncpg's for the same SQL (milliseconds)."""

    figure: str
    page: str  # "<filter> first" or "<filter> deep", as bench.api_pages names it
    certkeeper: float  # api p99
    reference: float  # raw asyncpg p99
    ratio: float  # certkeeper / reference; met when <= target
    target: float
    certkeeper_p50: float
    reference_p50: float

    @property
    def met(self) -> bool:
        return self.ratio <= self.target


def sqlalchemy_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


async def explain_all(dsn: str, page_list: list[Page]) -> None:
    """Each page's plan with the list indexes, then without them (dropped in a transaction
    that is rolled back): the before and after of migrations 0012 and 0013."""
    conn = await asyncpg.connect(dsn)
    try:
        for page in page_list:
            print(f"\n-- {page.name}: GET /v1/certificates?{page.query}")
            print(await plan(conn, page))
            try:
                async with conn.transaction():
                    for index in LIST_INDEXES:
                        await conn.execute(f"DROP INDEX IF EXISTS {index}")
                    print(f"-- {page.name}, without {', '.join(LIST_INDEXES)}:")
                    print(await plan(conn, page))
                    raise RollBack
            except RollBack:
                pass
    finally:
        await conn.close()


async def plan(conn: asyncpg.Connection, page: Page) -> str:
    rows = await conn.fetch(explain_sql(page.sql), *page.params)
    return "\n".join(row[0] for row in rows)


class RollBack(Exception):
    """Leaves the transaction, restoring the dropped indexes."""


def run(database: str | PostgresServer, clients: int = 50, rounds: int = ROUNDS) -> list[Result]:
    """The list pages through ``certkeeper api`` and through raw asyncpg, on a migrated
    database seeded by :func:`bench.seed.seed` (its DSN, or the server): one api process
    and a throwaway Redis are started for the run and stopped after it."""
    dsn = database if isinstance(database, str) else database.dsn
    with redis_server() as rd, temp_dir("ck-bench-api-") as data:
        port = free_port()
        env = child_env({
            "CERTKEEPER_DATABASE_URL": dsn, "CERTKEEPER_REDIS_URL": rd.url,
            "CERTKEEPER_ENCRYPTION_KEYS": new_key_spec(), "CERTKEEPER_DATA_DIR": str(data),
            "CERTKEEPER_HTTP_PORT": str(port), "CERTKEEPER_LOG_LEVEL": "WARNING",
            # A connection per client, as the raw side has.
            "CERTKEEPER_DATABASE_POOL_SIZE": str(clients),
        })
        admin = run_cli(env, "token", "create", "--role", "admin", "--name", "bench")
        base_url = f"http://127.0.0.1:{port}"
        with run_process([CERTKEEPER, "api"], env=env, log_path=data / "api.log",
                         ready_url=f"{base_url}/readyz"):
            load = subprocess.run(
                [sys.executable, "-m", "bench.api_load", "--url", base_url, "--dsn", dsn,
                 "--sqlalchemy-url", sqlalchemy_url(dsn),
                 "--now", datetime.now(UTC).isoformat(),
                 "--clients", str(clients), "--rounds", str(rounds)],
                env={**env, "CERTKEEPER_BENCH_TOKEN": admin}, capture_output=True, text=True,
                check=False)
    if load.returncode != 0:
        raise RuntimeError(f"load driver failed:\n{load.stderr[-3000:]}")
    return [result_of(row) for row in json.loads(load.stdout)]


def result_of(row: dict[str, Any]) -> Result:
    return Result(figure=f"certificate list, {row['page']}, p99 ms", page=row["page"],
                  certkeeper=row["api_p99"], reference=row["raw_p99"],
                  ratio=row["ratio_p99"], target=TARGET_RATIO,
                  certkeeper_p50=row["api_p50"], reference_p50=row["raw_p50"])


def report(results: list[Result]) -> None:
    print(f"{'page':<52}{'api p50':>9}{'api p99':>9}{'raw p50':>9}{'raw p99':>9}"
          f"{'p99 ratio':>11}  met?")
    for row in results:
        print(f"{row.figure:<52}{row.certkeeper_p50:>9.1f}{row.certkeeper:>9.1f}"
              f"{row.reference_p50:>9.1f}{row.reference:>9.1f}{row.ratio:>11.2f}"
              f"  {'yes' if row.met else 'no'}")
    print(f"(milliseconds; ratio = api p99 / raw p99, target <= {TARGET_RATIO})")


def measure(dsn: str, clients: int, rounds: int, explain_only: bool) -> None:
    """Plans, then the load (unless ``explain_only``), on a seeded database."""
    asyncio.run(explain_all(dsn, asyncio.run(pages(sqlalchemy_url(dsn), datetime.now(UTC)))))
    if explain_only:
        return
    print(f"\n{clients} concurrent clients, {rounds} requests each per page; "
          f"load average {os.getloadavg()[0]:.2f}")
    report(run(dsn, clients, rounds))
    print(f"Load average after: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--dsn", help="a migrated database seeded already (no seeding)")
    parser.add_argument("--explain-only", action="store_true",
                        help="seed and print the plans, start no api")
    args = parser.parse_args()
    print(f"Load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.dsn:
        measure(args.dsn, args.clients, args.rounds, args.explain_only)
        return
    with postgres_server() as pg:
        began = time.perf_counter()
        upgrade(pg.sqlalchemy_url)
        print(f"Migrated in {time.perf_counter() - began:.1f} s")
        seconds = asyncio.run(seed(pg.dsn, args.total, datetime.now(UTC)))
        print(f"Seeded {args.total} certificates (lineages, requests, 2 names each) with COPY "
              f"in {seconds:.1f} s ({args.total / seconds:.0f}/s)")
        measure(pg.dsn, args.clients, args.rounds, args.explain_only)


if __name__ == "__main__":
    main()
