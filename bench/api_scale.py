"""The certificate list over a large repository, against raw asyncpg sending the same SQL.

Run with ``make bench-api`` or ``.venv/bin/python -m bench.api_scale [--total N]
[--clients C] [--rounds R]``. A throwaway Postgres (and Redis, which ``certkeeper api``
requires) is started, migrated and seeded by :mod:`bench.seed`; ``certkeeper api`` is
started on it. Printed:

- ``EXPLAIN (ANALYZE, BUFFERS)`` of every list query the API sends (the statement is built
  by ``shared.domain.certificates`` and compiled for asyncpg, as the api runs it);
- from a second process (``bench.api_load``), C concurrent clients fetching the same page of
  100 R times each: through the API (HTTP, ORM, JSON) and as the compiled SQL sent by raw
  asyncpg over a pool of C connections; p50/p99 of both and the ratio API/raw per page.

Pages: unfiltered, ``expires_before`` (a week ahead), ``status=revoked`` (2 % of rows) and
``domain`` (one certificate); each first page and a deep one (a keyset cursor 90 % of the
way down the filtered list).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.api_pages import Page, explain_sql, pages
from bench.seed import seed
from shared.crypto import new_key_spec
from shared.migrate import upgrade
from tests.harness.ports import free_port
from tests.harness.postgres import postgres_server
from tests.harness.process import child_env, run_process, temp_dir
from tests.harness.redis import redis_server

LIST_INDEXES = ("ix_certificates_created_at_id", "ix_certificates_status_created_at_id")
CERTKEEPER = str(Path(sys.executable).parent / "certkeeper")


async def explain_all(dsn: str, page_list: list[Page]) -> None:
    """Each page's plan with the migration-0012 indexes, then without them (dropped in a
    transaction that is rolled back): the before and after of that migration."""
    conn = await asyncpg.connect(dsn)
    try:
        for page in page_list:
            print(f"\n-- {page.name}: GET /v1/certificates?{page.query}")
            print(await plan(conn, page))
            try:
                async with conn.transaction():
                    for index in LIST_INDEXES:
                        await conn.execute(f"DROP INDEX {index}")
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


def token(env: dict[str, str]) -> str:
    done = subprocess.run([CERTKEEPER, "token", "create", "--role", "admin", "--name",
                           "bench"], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--explain-only", action="store_true",
                        help="seed and print the plans, start no api")
    args = parser.parse_args()
    print(f"Load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    now = datetime.now(UTC)
    with postgres_server() as pg, redis_server() as rd, temp_dir("ck-bench-api-") as data:
        began = time.perf_counter()
        upgrade(pg.sqlalchemy_url)
        print(f"Migrated in {time.perf_counter() - began:.1f} s")
        seconds = asyncio.run(seed(pg.dsn, args.total, now))
        print(f"Seeded {args.total} certificates (lineages, requests, 2 names each) with COPY "
              f"in {seconds:.1f} s ({args.total / seconds:.0f}/s)")
        page_list = asyncio.run(pages(pg.sqlalchemy_url, now))
        asyncio.run(explain_all(pg.dsn, page_list))
        if args.explain_only:
            return
        port = free_port()
        env = child_env({
            "CERTKEEPER_DATABASE_URL": pg.dsn, "CERTKEEPER_REDIS_URL": rd.url,
            "CERTKEEPER_ENCRYPTION_KEYS": new_key_spec(), "CERTKEEPER_DATA_DIR": str(data),
            "CERTKEEPER_HTTP_PORT": str(port), "CERTKEEPER_LOG_LEVEL": "WARNING",
        })
        admin = token(env)
        base_url = f"http://127.0.0.1:{port}"
        with run_process([CERTKEEPER, "api"], env=env, log_path=data / "api.log",
                         ready_url=f"{base_url}/readyz"):
            print(f"\n{args.clients} concurrent clients, {args.rounds} requests each per page; "
                  f"load average {os.getloadavg()[0]:.2f}")
            load = subprocess.run(
                [sys.executable, "-m", "bench.api_load", "--url", base_url, "--dsn", pg.dsn,
                 "--sqlalchemy-url", pg.sqlalchemy_url, "--now", now.isoformat(),
                 "--clients", str(args.clients), "--rounds", str(args.rounds)],
                env={**env, "CERTKEEPER_BENCH_TOKEN": admin}, capture_output=True, text=True,
                check=False)
            if load.returncode != 0:
                raise SystemExit(f"load driver failed:\n{load.stderr[-3000:]}")
            report(json.loads(load.stdout))
            print(f"Load average after: {os.getloadavg()[0]:.2f}")


def report(results: list[dict[str, float | str]]) -> None:
    print(f"{'page':<28}{'api p50':>9}{'api p99':>9}{'raw p50':>9}{'raw p99':>9}"
          f"{'p99 ratio':>11}")
    for row in results:
        print(f"{row['page']!s:<28}{row['api_p50']:>9.1f}{row['api_p99']:>9.1f}"
              f"{row['raw_p50']:>9.1f}{row['raw_p99']:>9.1f}{row['ratio_p99']:>11.2f}")
    print("(milliseconds; ratio = api p99 / raw p99)")


if __name__ == "__main__":
    main()
