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
from shared.domain.certificates import certificates_query
from shared.domain.pagination import encode_cursor, page_statement
from shared.models import Certificate
from shared.states import CertificateStatus

PAGE_SIZE = 100
DEEP = 0.9  # a deep page starts this far down the filtered list


@dataclass(frozen=True)
class Page:
    name: str
    query: str  # the API's query string
    sql: str  # what the API sends to Postgres, with $n parameters
    params: list[Any]


def compiled(stmt: Select[Any]) -> tuple[str, list[Any]]:
    """The statement as asyncpg receives it from SQLAlchemy: SQL text and its values."""
    done = stmt.compile(dialect=pg_asyncpg.dialect())
    params = done.construct_params()
    values = [params[name] for name in done.positiontup or ()]
    return done.string, [v.value if isinstance(v, Enum) else v for v in values]


def explain_sql(sql: str) -> str:
    return f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"


def filters(now: datetime) -> dict[str, dict[str, Any]]:
    """Filter name -> keyword arguments of ``certificates_query`` (and of the API)."""
    some = Shape(total=1, now=now)
    return {
        "all": {},
        "expires_before": {"expires_before": now + timedelta(days=7)},
        "status=revoked": {"status": CertificateStatus.REVOKED},
        "domain": {"domain": "www." + some.domain(12_345)},
    }


def query_string(arguments: dict[str, Any], cursor: str | None) -> str:
    fields: dict[str, str] = {"limit": str(PAGE_SIZE)}
    for key, value in arguments.items():
        fields[key] = (value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime)
                       else str(value))
    if cursor is not None:
        fields["cursor"] = cursor
    return urlencode(fields)


def query_for(arguments: dict[str, Any]) -> Select[Any]:
    return certificates_query(**{"status": None, "domain": None, "expires_before": None,
                                 **arguments})


async def deep_cursor(session: AsyncSession, arguments: dict[str, Any]) -> str | None:
    """A cursor ``DEEP`` of the way down the list, or None when it fits on one page."""
    base = query_for(arguments)
    count = await session.scalar(select(func.count()).select_from(base.subquery()))
    if count is None or count <= PAGE_SIZE:
        return None
    row = (await session.execute(
        base.with_only_columns(Certificate.created_at, Certificate.id)
        .order_by(Certificate.created_at.desc(), Certificate.id.desc())
        .offset(int(count * DEEP)).limit(1)
    )).one()
    return encode_cursor(row.created_at, row.id)


async def pages(sqlalchemy_url: str, now: datetime) -> list[Page]:
    """First and deep page of every filter (the deep one only when there is one)."""
    engine = create_async_engine(sqlalchemy_url)
    found: list[Page] = []
    try:
        async with AsyncSession(engine) as session:
            for name, arguments in filters(now).items():
                deep = await deep_cursor(session, arguments)
                for label, cursor in (("first", None), ("deep", deep)):
                    if label == "deep" and cursor is None:
                        continue
                    stmt = page_statement(
                        query_for(arguments),
                        created_at=Certificate.created_at, row_id=Certificate.id,
                        cursor=cursor, limit=PAGE_SIZE,
                    )
                    sql, params = compiled(stmt)
                    found.append(Page(f"{name} {label}", query_string(arguments, cursor),
                                      sql, params))
    finally:
        await engine.dispose()
    return found
