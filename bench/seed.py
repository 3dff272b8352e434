"""A repository of N realistic certificates in Postgres, written with COPY.

``.venv/bin/python -m bench.seed DSN [--total N] [--due-percent P]`` (default 1,000,000 and
1) on a migrated,
empty database. Per certificate: its lineage, the request that issued it, two names (the
apex and ``www.``) in ``certificates.names`` and ``certificate_names``. Spread like a fleet
that has run for a year: ``created_at`` over the last 365 days, ``not_after`` over the next
90 days (the expired ones in the past), statuses 90 % active, 5 % renewed, 3 % expired,
2 % revoked; ``due_percent`` (default 1) of all certificates are active and due for renewal
(planned a few minutes ago), the other active ones planned two thirds into their lifetime or,
where that has passed, within the next day (a renewer keeps the fleet current); so the API
and the renewer benchmarks can share one seeded database. Rows are encoded in Python and
sent with asyncpg's binary COPY (``copy_records_to_table``) in batches, so memory stays
flat whatever N is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]

ACCOUNT = UUID("00000000-0000-4000-8000-000000000001")
BATCH = 50_000
YEAR_SECONDS = 365 * 86_400
NINETY_DAYS = 90 * 86_400
LIFETIME = timedelta(days=90)


@dataclass(frozen=True)
class Shape:
    """Where certificate ``i`` falls: deterministic, so a run can name its pages."""

    total: int
    now: datetime
    due_percent: float = 1.0

    def uuid(self, kind: int, i: int) -> UUID:
        return UUID(int=(kind << 120) | (i + 1))

    def domain(self, i: int) -> str:
        return f"host{i}.fleet{i % 1000}.example.test"

    def status(self, i: int) -> str:
        bucket = (i * 7919) % 100  # a stride, so statuses are not clustered by age
        if bucket < 90:
            return "active"
        if bucket < 95:
            return "renewed"
        if bucket < 98:
            return "expired"
        return "revoked"

    def created_at(self, i: int) -> datetime:
        # Oldest first: row i is (total - i) / total of a year old.
        return self.now - timedelta(seconds=YEAR_SECONDS * (self.total - i) / self.total)

    def not_after(self, i: int) -> datetime:
        if self.status(i) == "expired":
            return self.now - timedelta(seconds=(i * 104_729) % NINETY_DAYS)
        return self.now + timedelta(seconds=(i * 104_729) % NINETY_DAYS)

    def due(self, i: int) -> bool:
        """Active and due: 1/90 of the active ones per percent, so about ``due_percent`` %
        of all (9,997 of 1,000,000 at 1 %), spread over every age."""
        return self.status(i) == "active" and (i * 104_723) % 9_000 < self.due_percent * 100

    def renewal_at(self, i: int) -> datetime | None:
        if self.status(i) != "active":
            return None
        if self.due(i):
            return self.now - timedelta(seconds=60 + i % 600)
        planned = self.not_after(i) - LIFETIME / 3
        return max(planned, self.now + timedelta(seconds=3_600 + i % 86_400))


LINEAGE_COLUMNS = ("id", "common_name", "names", "key_type", "curve", "challenge_type",
                   "validation", "acme_account_id", "auto_renew", "created_at", "updated_at")
REQUEST_COLUMNS = ("id", "lineage_id", "common_name", "names", "key_type", "curve",
                   "challenge_type", "validation", "acme_account_id", "auto_renew", "status",
                   "version", "attempts", "polls", "orders_placed", "certificate_id",
                   "finished_at", "created_at", "updated_at")
CERTIFICATE_COLUMNS = ("id", "request_id", "lineage_id", "acme_account_id", "common_name",
                       "names", "serial", "not_before", "not_after", "issuer",
                       "fingerprint_sha256", "key_type", "chain_pem", "alternate_chains_pem",
                       "private_key_sealed", "status", "auto_renew", "renewal_at",
                       "renewal_source", "renewal_attempts", "revoked_at", "revocation_reason",
                       "created_at", "updated_at")
NAME_COLUMNS = ("certificate_id", "name")
LINEAGE, REQUEST, CERTIFICATE = 1, 2, 3
CHAIN = "-----BEGIN CERTIFICATE-----\n" + "A" * 700 + "\n-----END CERTIFICATE-----\n"


def rows(shape: Shape, start: int, stop: int) -> Iterator[tuple[tuple[object, ...], ...]]:
    """(lineage, request, certificate, name, name) rows of certificates ``start..stop``."""
    for i in range(start, stop):
        apex = shape.domain(i)
        names = [apex, "www." + apex]
        names_json = json.dumps(names)
        lineage, request, cert = (shape.uuid(LINEAGE, i), shape.uuid(REQUEST, i),
                                  shape.uuid(CERTIFICATE, i))
        created = shape.created_at(i)
        not_after = shape.not_after(i)
        status = shape.status(i)
        revoked = status == "revoked"
        yield (
            (lineage, apex, names_json, "ec", "p-256", "http-01", "automatic", ACCOUNT, True,
             created, created),
            (request, lineage, apex, names_json, "ec", "p-256", "http-01", "automatic",
             ACCOUNT, True, "issued", 3, 1, 2, 1, cert, created, created, created),
            (cert, request, lineage, ACCOUNT, apex, names_json, f"{i + 1:032x}",
             not_after - LIFETIME, not_after, "CN=Fleet Test CA", f"{i + 1:064x}", "ec",
             CHAIN, "[]", b"\x00" * 64, status, status == "active",
             shape.renewal_at(i),
             "lifetime" if status == "active" else None, 0,
             created + timedelta(days=1) if revoked else None,
             "superseded" if revoked else None, created, created),
            (cert, names[0]),
            (cert, names[1]),
        )


async def seed(
    dsn: str, total: int, now: datetime, batch: int = BATCH, due_percent: float = 1.0
) -> float:
    """Write ``total`` certificates; returns the seconds it took (ANALYZE included)."""
    shape = Shape(total, now, due_percent)
    began = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO acme_accounts (id, directory_url, terms_of_service_agreed, status, "
            "account_url, key_sealed, created_at, updated_at) VALUES ($1, "
            "'https://ca.test/dir', true, 'valid', 'https://ca.test/acct/1', '\\x00'::bytea, "
            "$2, $2)", ACCOUNT, now)
        for start in range(0, total, batch):
            lineages, requests, certs = [], [], []
            names: list[tuple[object, ...]] = []
            for lineage, request, cert, first, second in rows(shape, start,
                                                               min(start + batch, total)):
                lineages.append(lineage)
                requests.append(request)
                certs.append(cert)
                names += (first, second)
            await conn.copy_records_to_table("lineages", records=lineages,
                                             columns=LINEAGE_COLUMNS)
            await conn.copy_records_to_table("certificate_requests", records=requests,
                                             columns=REQUEST_COLUMNS)
            await conn.copy_records_to_table("certificates", records=certs,
                                             columns=CERTIFICATE_COLUMNS)
            await conn.copy_records_to_table("certificate_names", records=names,
                                             columns=NAME_COLUMNS)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dsn", help="postgresql://... of a migrated, empty database")
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--due-percent", type=float, default=1.0,
                        help="about this share of all certificates due for renewal")
    args = parser.parse_args()
    elapsed = asyncio.run(seed(args.dsn, args.total, datetime.now(UTC),
                               due_percent=args.due_percent))
    print(f"Seeded {args.total} certificates in {elapsed:.1f} s "
          f"({args.total / elapsed:.0f}/s)")


if __name__ == "__main__":
    main()
