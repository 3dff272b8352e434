"""The pages the API-at-scale benchmark fetches, each as the API's query string and as the
SQL the API sends for it (built by ``shared.domain.certificates``, compiled for asyncpg)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.seed import Shape
from shared.domain.certificates import CertificateFilter, statement_for
from shared.domain.pagination import encode_cursor, page_params
from shared.states import CertificateStatus

PAGE_SIZE = 100
# Requests each client makes of each page, on each side (bench.api_load runs them in blocks).
ROUNDS = 40
DEEP = 0.9  # a deep page starts this far down the filtered list


@dataclass(frozen=True)
class Page:
    name: str
    query: str  # the API's query string
    sql: str  # what the API sends to Postgres, with $n parameters
    params: list[Any]


# The dialect the api's engine compiles with (SQLAlchemy leaves its constructor untyped).
ASYNCPG_DIALECT = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]


def compiled(stmt: Select[Any], params: dict[str, Any]) -> tuple[str, list[Any]]:
    """The statement as asyncpg receives it from SQLAlchemy: SQL text and its values."""
    done = stmt.compile(dialect=ASYNCPG_DIALECT)
    values = done.construct_params(params)
    bound = [values[name] for name in done.positiontup or ()]
    return done.string, [v.value if isinstance(v, Enum) else v for v in bound]


def explain_sql(sql: str) -> str:
    return f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"


def filters(now: datetime) -> dict[str, CertificateFilter]:
    """Filter name -> the list's filter (and the API's query parameters)."""
    some = Shape(total=1, now=now)
    return {
        "all": CertificateFilter(),
        "expires_before": CertificateFilter(expires_before=now + timedelta(days=7)),
        "status=revoked": CertificateFilter(status=CertificateStatus.REVOKED),
        "domain": CertificateFilter(domain="www." + some.domain(12_345)),
    }


def query_string(where: CertificateFilter, cursor: str | None) -> str:
    fields: dict[str, str] = {"limit": str(PAGE_SIZE)}
    for key in ("status", "domain", "expires_before"):
        value = getattr(where, key)
        if value is not None:
            fields[key] = (value.isoformat().replace("+00:00", "Z")
                           if isinstance(value, datetime) else str(value))
    if cursor is not None:
        fields["cursor"] = cursor
    return urlencode(fields)


async def deep_cursor(session: AsyncSession, where: CertificateFilter) -> str | None:
    """A cursor ``DEEP`` of the way down the list, or None when it fits on one page."""
    every = statement_for(where, after=False).limit(None)  # keyset order, every row
    params = where.params()
    count = await session.scalar(
        select(func.count()).select_from(every.order_by(None).subquery()), params)
    if count is None or count <= PAGE_SIZE:
        return None
    row = (await session.execute(every.offset(int(count * DEEP)).limit(1), params)).one()
    return encode_cursor(row.created_at, row.id)


async def pages(sqlalchemy_url: str, now: datetime) -> list[Page]:
    """First and deep page of every filter (the deep one only when there is one)."""
    engine = create_async_engine(sqlalchemy_url)
    found: list[Page] = []
    try:
        async with AsyncSession(engine) as session:
            for name, where in filters(now).items():
                deep = await deep_cursor(session, where)
                for label, cursor in (("first", None), ("deep", deep)):
                    if label == "deep" and cursor is None:
                        continue
                    sql, params = compiled(statement_for(where, after=cursor is not None),
                                           {**where.params(), **page_params(cursor, PAGE_SIZE)})
                    found.append(Page(f"{name} {label}", query_string(where, cursor),
                                      sql, params))
    finally:
        await engine.dispose()
    return found
