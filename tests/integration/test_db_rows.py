"""``shared.db_rows.fetch_rows``: on Postgres it runs a statement on asyncpg itself, and its rows
must be what SQLAlchemy's own execution gives, value for value and type for type, whatever
the statement binds (values the caller gives through their types' processors, values the
statement holds, IN lists). A statement that fails leaves the pooled connection usable. The
columns read as text (JSON, enums, UUIDs) read the same on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg  # type: ignore[import-untyped]
import orjson
import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Uuid,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db_rows import fetch_rows, json_text, plain_text, uuid_text
from shared.models.base import UTCDateTime, str_enum
from shared.states import CertificateStatus
from tests.harness.postgres import postgres_server

METADATA = MetaData()
THINGS = Table(
    "things", METADATA,
    Column("id", Uuid, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("status", str_enum(CertificateStatus), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
    Column("tags", JSON, nullable=False),
    Column("problem", JSON),
    Column("on", Boolean, nullable=False),
    Column("count", Integer),
)
NOW = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
ROWS = [
    {"id": UUID(int=n), "name": f"thing-{n}", "status": list(CertificateStatus)[n % 3],
     "at": NOW - timedelta(hours=n, microseconds=n), "until": None if n % 2 else NOW,
     "tags": [f"t{n}", "ü"], "problem": None if n % 3 else {"type": "x", "status": 500 + n},
     "on": bool(n % 2), "count": None if n == 4 else n}
    for n in range(1, 9)
]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as server:
        yield server.sqlalchemy_url


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = (request.getfixturevalue("postgres_url") if request.param == "postgresql"
           else f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}")
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    async with engine.begin() as connection:
        await connection.run_sync(METADATA.drop_all)
        await connection.run_sync(METADATA.create_all)
        await connection.execute(THINGS.insert(), ROWS)
    yield engine
    await engine.dispose()


STATEMENTS: dict[str, tuple[Select[Any], dict[str, Any]]] = {
    "every column, filtered by bound values through their types": (
        select(THINGS).where(THINGS.c.status == bindparam("status"),
                             THINGS.c.at < bindparam("before", type_=UTCDateTime))
        .order_by(THINGS.c.at.desc()).limit(bindparam("limit", type_=Integer)),
        {"status": CertificateStatus.ACTIVE, "before": NOW, "limit": 5},
    ),
    "values and an IN list the statement holds, and a computed column": (
        select(THINGS.c.id, THINGS.c.name, func.json_array_length(THINGS.c.tags).label("n"))
        .where(THINGS.c.name.in_(["thing-2", "thing-3", "thing-7"]), THINGS.c.count > 2)
        .order_by(THINGS.c.name),
        {},
    ),
    "no rows": (select(THINGS).where(THINGS.c.name == bindparam("name")), {"name": "none"}),
}


@pytest.mark.parametrize("case", list(STATEMENTS))
async def test_rows_are_what_sqlalchemy_gives(engine: AsyncEngine, case: str) -> None:
    stmt, params = STATEMENTS[case]
    async with engine.connect() as connection:
        expected = [dict(row._mapping) for row in await connection.execute(stmt, params)]
        rows = await fetch_rows(connection, stmt, params)
        again = await fetch_rows(connection, stmt, params)  # the compiled statement reused
    assert rows == again == expected
    assert [[type(v) for v in row.values()] for row in rows] == [
        [type(v) for v in row.values()] for row in expected]
    assert case == "no rows" or rows


async def test_json_enums_and_uuids_are_read_as_their_text(engine: AsyncEngine) -> None:
    stmt = select(uuid_text(THINGS.c.id), THINGS.c.name, json_text(THINGS.c.tags),
                  json_text(THINGS.c.problem), plain_text(THINGS.c.status)
                  ).order_by(THINGS.c.id.desc())
    async with engine.connect() as connection:
        rows = await fetch_rows(connection, stmt, {})
    assert [(type(row["id"]), type(row["status"])) for row in rows] == [(str, str)] * len(ROWS)
    assert orjson.loads(orjson.dumps(rows)) == [
        {"id": str(row["id"]), "name": row["name"], "tags": row["tags"],
         "problem": row["problem"], "status": row["status"].value}
        for row in sorted(ROWS, key=lambda row: str(row["id"]), reverse=True)
    ]


async def test_a_failed_statement_leaves_the_connection_usable(engine: AsyncEngine) -> None:
    missing = select(text("x")).select_from(text("no_such_table"))
    stmt = select(THINGS.c.name).where(THINGS.c.id == bindparam("id", type_=Uuid))
    async with engine.connect() as connection:
        with pytest.raises(Exception) as failed:
            await fetch_rows(connection, missing, {})
        expected = asyncpg.UndefinedTableError if engine.dialect.name == "postgresql" else (
            Exception)
        assert isinstance(failed.value, expected)
    async with engine.connect() as connection:  # the pool's only connection, again
        assert await fetch_rows(connection, stmt, {"id": UUID(int=3)}) == [{"name": "thing-3"}]
        assert await fetch_rows(connection, stmt, {"id": uuid4()}) == []
