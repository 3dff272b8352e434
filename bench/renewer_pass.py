"""One renewer pass over a large repository in Postgres, against raw SQL doing the same claim.

Run with ``make bench-renewer`` or ``.venv/bin/python -m bench.renewer_pass [--total N]
[--due-percent P] [--rounds R] [--pass-limit L]``. A throwaway Postgres is migrated and
seeded by :mod:`bench.seed` with N certificates (COPY; 90 % active and auto-renewing), about
P percent of all due. Printed:

- the plan of the claim query (``EXPLAIN (ANALYZE, BUFFERS)``, rolled back);
- claiming every due certificate in batches of ``CLAIM_BATCH``: the renewer's own
  ``claim_due`` against the same UPDATE sent by raw asyncpg (leases reset and the table
  vacuumed in between);
- a whole pass (``renew_once``: expire, claim, decide, one renewal request created and rung
  per due certificate), its rate and the peak Python memory it allocated (tracemalloc);
  with L, all but L of the due certificates are planned a day later first, to bound it;
- a pass with nothing due (the common case), and the wake query (``next_renewal``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg  # type: ignore[import-untyped]

from bench.api_pages import ASYNCPG_DIALECT
from bench.seed import seed
from services.renewer.renewer import (
    CLAIM_BATCH,
    Renewer,
    claim_due,
    claim_statement,
    next_renewal,
    renew_once,
)
from shared.acme_ari import RenewalWindow
from shared.config import Settings
from shared.crypto import new_key_spec
from shared.migrate import upgrade
from shared.models.base import utcnow
from shared.runtime import build_runtime
from tests.harness.postgres import PostgresServer, postgres_server
from tests.harness.process import temp_dir

RAW_CLAIM = """
UPDATE certificates SET renewal_lease_owner = $1, renewal_lease_until = $2
WHERE id IN (
    SELECT id FROM certificates
    WHERE status = 'active' AND auto_renew
      AND (renewal_at <= $3 OR ari_check_at <= $3)
      AND (renewal_lease_until IS NULL OR renewal_lease_until < $3)
    LIMIT $4)
  AND (renewal_lease_until IS NULL OR renewal_lease_until < $3)
RETURNING id, ari_check_at IS NOT NULL AND ari_check_at <= $3
"""
COUNT_DUE = """
SELECT count(*) FROM certificates
WHERE status = 'active' AND auto_renew AND (renewal_at <= $1 OR ari_check_at <= $1)
"""
DEFER_DUE = """
UPDATE certificates SET renewal_at = $1 + interval '1 day', ari_check_at = NULL
WHERE id IN (
    SELECT id FROM certificates
    WHERE status = 'active' AND auto_renew AND (renewal_at <= $1 OR ari_check_at <= $1)
    ORDER BY id OFFSET $2)
"""
RESET = ("UPDATE certificates SET renewal_lease_owner = NULL, renewal_lease_until = NULL "
         "WHERE renewal_lease_owner IS NOT NULL")


@dataclass
class CountingQueue:
    """Stands in for the issuer's queue: the bench measures the renewer, not issuance."""

    rung: list[str] = field(default_factory=list)

    async def enqueue(self, function: str, arg: str, *, job_id: str, defer_by: float = 0.0
                      ) -> bool:
        self.rung.append(arg)
        return True

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class NoAri:
    async def renewal_info(self, directory_url: str, chain_pem: str) -> RenewalWindow | None:
        return None


async def count_due(pg: PostgresServer, now: datetime) -> int:
    conn = await asyncpg.connect(pg.dsn)
    try:
        due: int = await conn.fetchval(COUNT_DUE, now)
    finally:
        await conn.close()
    return due


async def reset_leases(pg: PostgresServer) -> None:
    """Release every lease, then vacuum: each claim starts from the same table (without the
    vacuum, the dead row versions of the claims before slow every later one down, and the
    ratio would depend on which side ran last)."""
    conn = await asyncpg.connect(pg.dsn)
    try:
        await conn.execute(RESET)
        await conn.execute("VACUUM (ANALYZE) certificates")
    finally:
        await conn.close()


async def raw_claim(pg: PostgresServer, now: datetime) -> float:
    conn = await asyncpg.connect(pg.dsn)
    try:
        began = time.perf_counter()
        claimed = 0
        while rows := await conn.fetch(RAW_CLAIM, "raw", now + timedelta(minutes=5), now,
                                         CLAIM_BATCH):
            claimed += len(rows)
        elapsed = time.perf_counter() - began
    finally:
        await conn.close()
    await reset_leases(pg)
    print(f"  raw asyncpg claim: {claimed} rows in {elapsed * 1000:.0f} ms")
    return elapsed


async def renewer_claim(renewer: Renewer, pg: PostgresServer, now: datetime) -> float:
    began = time.perf_counter()
    claimed = 0
    while rows := await claim_due(renewer, now):
        claimed += len(rows)
    elapsed = time.perf_counter() - began
    await reset_leases(pg)
    print(f"  renewer claim_due: {claimed} rows in {elapsed * 1000:.0f} ms")
    return elapsed


async def explain_claim(pg: PostgresServer, now: datetime) -> str:
    """The renewer's own claim statement, compiled for asyncpg, under EXPLAIN ANALYZE in a
    transaction that is rolled back."""
    compiled = claim_statement("explain", now, timedelta(minutes=5)).compile(
        dialect=ASYNCPG_DIALECT
    )
    params = compiled.construct_params()
    values = [params[name] if params[name] is not None else now  # updated_at's default
              for name in compiled.positiontup or ()]
    conn = await asyncpg.connect(pg.dsn)
    try:
        async with conn.transaction():
            rows = await conn.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {compiled.string}", *values
            )
            plan = "\n".join(row[0] for row in rows)
            raise _RollBack(plan)
    except _RollBack as done:
        return str(done)
    finally:
        await conn.close()


class _RollBack(Exception):
    """Leaves the transaction, undoing the claim EXPLAIN ANALYZE made."""


@dataclass(frozen=True)
class RenewerFigures:
    due: int
    claim_seconds: float  # median, the renewer's claim_due
    raw_seconds: float  # median, the same UPDATE from raw asyncpg
    pass_started: int
    pass_seconds: float
    pass_peak_mib: float
    idle_ms: float
    wake_ms: float


async def defer_due_beyond(pg: PostgresServer, now: datetime, keep: int) -> int:
    """Leave only ``keep`` certificates due (the others planned a day later): bounds the
    whole pass, which starts one renewal per due certificate. Returns how many stay due."""
    conn = await asyncpg.connect(pg.dsn)
    try:
        await conn.execute(DEFER_DUE, now, keep)
        due: int = await conn.fetchval(COUNT_DUE, now)
    finally:
        await conn.close()
    return due


async def measure(
    pg: PostgresServer, total: int, due: int, rounds: int, pass_limit: int | None = None
) -> RenewerFigures:
    """Print and return the figures; ``pass_limit``: at most this many due in the whole
    pass (the claim comparison always claims every due certificate)."""
    with temp_dir("ck-bench-renewer-") as data:
        settings = Settings(database_url=pg.dsn, encryption_keys=new_key_spec(),
                            data_dir=data)
        runtime = build_runtime(settings)
        queue = CountingQueue()
        renewer = Renewer(settings, runtime.sessions, queue, NoAri())
        try:
            now = utcnow()
            print(f"\nClaim query plan ({total} certificates, {due} due):")
            print(await explain_claim(pg, now))
            print(f"Claiming all {due} due certificates, batches of {CLAIM_BATCH}, "
                  f"{rounds} rounds each:")
            raw, ours = [], []
            for _ in range(rounds):
                raw.append(await raw_claim(pg, now))
                ours.append(await renewer_claim(renewer, pg, now))
            ratio = statistics.median(ours) / statistics.median(raw)
            print(f"  median: renewer {statistics.median(ours) * 1000:.0f} ms, raw "
                  f"{statistics.median(raw) * 1000:.0f} ms -> ratio {ratio:.2f}")

            if pass_limit is not None and pass_limit < due:
                print(f"\nWhole pass bounded: {await defer_due_beyond(pg, now, pass_limit)} "
                      f"left due")
            tracemalloc.start()
            began = time.perf_counter()
            started = await renew_once(renewer)
            elapsed = time.perf_counter() - began
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"\nWhole pass: {started} renewals started in {elapsed:.2f} s "
                  f"({started / elapsed:.0f} certificates/s, {elapsed / max(started, 1) * 1000:.2f}"
                  f" ms each); peak Python allocation {peak / 2**20:.1f} MiB; "
                  f"{len(queue.rung)} rung")

            idle = []
            for _ in range(rounds):
                began = time.perf_counter()
                await renew_once(renewer)
                idle.append(time.perf_counter() - began)
            began = time.perf_counter()
            await next_renewal(renewer)
            wake = time.perf_counter() - began
            print(f"Pass with nothing due over {total}: median "
                  f"{statistics.median(idle) * 1000:.1f} ms; wake query "
                  f"(next_renewal) {wake * 1000:.1f} ms")
            return RenewerFigures(due, statistics.median(ours), statistics.median(raw),
                                  started, elapsed, peak / 2**20,
                                  statistics.median(idle) * 1000, wake * 1000)
        finally:
            await runtime.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--due-percent", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pass-limit", type=int, default=None,
                        help="at most this many due in the whole pass (default: all)")
    args = parser.parse_args()
    with postgres_server() as pg:
        upgrade(pg.sqlalchemy_url)
        now = utcnow()
        seconds = asyncio.run(seed(pg.dsn, args.total, now, due_percent=args.due_percent))
        due = asyncio.run(count_due(pg, now))
        print(f"Seeded {args.total} certificates ({due} due) in {seconds:.1f} s")
        asyncio.run(measure(pg, args.total, due, args.rounds, args.pass_limit))


if __name__ == "__main__":
    main()
