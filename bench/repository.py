"""Issue 12's targets 3 and 4 on one seeded Postgres: the certificate list at scale
(``bench.api_scale``'s load driver) and the renewer's claim (``bench.renewer_pass``).

The database is migrated and seeded once by :mod:`bench.seed` (COPY, about 1 % due); the
API part runs first, as the renewer part changes rows (claims, renewal requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from bench.api_scale import CERTKEEPER, token
from bench.figures import Figure, at_most
from bench.renewer_pass import count_due, measure
from bench.seed import seed
from shared.crypto import new_key_spec
from shared.migrate import upgrade
from tests.harness.ports import free_port
from tests.harness.postgres import PostgresServer, postgres_server
from tests.harness.process import child_env, run_process, temp_dir
from tests.harness.redis import redis_server

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


def api_results(pg: PostgresServer, now: datetime, clients: int, rounds: int
                ) -> list[dict[str, float | str]]:
    """``bench.api_load``'s per-page figures against a ``certkeeper api`` on ``pg``."""
    with redis_server() as rd, temp_dir("ck-bench-suite-api-") as data:
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
            load = subprocess.run(
                [sys.executable, "-m", "bench.api_load", "--url", base_url, "--dsn", pg.dsn,
                 "--sqlalchemy-url", pg.sqlalchemy_url, "--now", now.isoformat(),
                 "--clients", str(clients), "--rounds", str(rounds)],
                env={**env, "CERTKEEPER_BENCH_TOKEN": admin}, capture_output=True, text=True,
                check=False)
    if load.returncode != 0:
        raise RuntimeError(f"load driver failed:\n{load.stderr[-3000:]}")
    results: list[dict[str, float | str]] = json.loads(load.stdout)
    return results


def api_figures(results: list[dict[str, float | str]], clients: int) -> list[Figure]:
    """p99 of every page against raw asyncpg (target on the filtered ones), and each deep
    page's p50 against its first page's."""
    found, first = [], {}
    for result in results:
        page = str(result["page"])
        name, _, depth = page.rpartition(" ")
        api_p50, api_p99 = float(result["api_p50"]), float(result["api_p99"])
        target = at_most(API_TIMES) if name in FILTERED else None
        found.append(Figure(f"API p99, {page} page, {clients} clients", api_p99, "ms",
                            float(result["raw_p99"]), "raw asyncpg", target))
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
            figures += api_figures(api_results(pg, now, clients, rounds), clients)
            print(f"API part: {time.monotonic() - began:.0f} s", flush=True)
        if "renewer" in parts:
            began = time.monotonic()
            figures += renewer_figures(pg, total, renewer_rounds, pass_limit)
            print(f"renewer part: {time.monotonic() - began:.0f} s", flush=True)
    return figures
