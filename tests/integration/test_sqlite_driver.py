"""The embedded database's driver: each statement is one trip to aiosqlite's thread, and
what SQLAlchemy reads back (rows, rowcount, lastrowid, errors) is what the stock driver
gives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import Settings
from shared.crypto import new_key_spec
from shared.db import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}"
    engine = create_engine(Settings(database_url=url, data_dir=tmp_path,
                                    encryption_keys=new_key_spec()))
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE)")
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """Every function sent to an aiosqlite connection's thread."""
    sent: list[Callable[..., Any]] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any,
                      **kwargs: Any) -> Any:
        sent.append(fn)
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


async def test_reads_and_writes_come_back_as_from_the_stock_driver(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await conn.execute(text("INSERT INTO t (name) VALUES (:name)"),
                           [{"name": "b"}, {"name": "c"}])
        updated = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        rows = (await conn.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [(1, "a"), (2, "b!"), (3, "c!")]
        result = await conn.execute(text("SELECT name FROM t WHERE id = 99"))
        assert list(result.keys()) == ["name"] and result.first() is None


async def test_a_statement_is_one_trip(engine: AsyncEngine,
                                       trips: list[Callable[..., Any]]) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the transaction's BEGIN IMMEDIATE, then it
        before = len(trips)
        assert (await conn.execute(text("SELECT id FROM t"))).all() == []
        await conn.execute(text("INSERT INTO t (name) VALUES ('x')"))
        assert len(trips) - before == 2


async def test_errors_are_sqlalchemys_and_leave_the_connection_usable(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('dup')"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('dup')"))
    with pytest.raises(OperationalError):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT nope FROM t"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
