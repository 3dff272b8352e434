"""Engine and session factory for Postgres (asyncpg) and SQLite (aiosqlite).

SQLite allows one writer at a time. Python's sqlite3 opens transactions with a plain
(deferred) ``BEGIN``: a transaction that reads and then writes must upgrade its lock, and when
another connection wrote in between, SQLite answers ``SQLITE_BUSY`` at once, without waiting
for ``busy_timeout`` ("database is locked"), and the work is lost. Every SQLite transaction
here starts with ``BEGIN IMMEDIATE`` instead (SQLAlchemy's documented recipe for the pysqlite
and aiosqlite drivers): it takes the write lock up front, or waits for it. Transactions are
short (none spans network I/O), so waiting is cheap.

The pool holds one connection, and transactions wait for it in turn. With several, as before,
the others waited for the write lock in SQLite's busy handler, which polls with sleeps that
grow to 100 ms: in a burst of 100 requests in the all-in-one, a BEGIN waited 36 ms at the 90th
percentile and 454 ms at the 99th, while the lock was held for 1-5 ms at a time. A wait for
the pool is woken the moment the connection comes back. (Another process, such as a CLI
command, still meets the busy handler.) Each statement is one trip to aiosqlite's thread
(:mod:`shared.sqlite_driver`).

On Postgres a pooled connection that the server closed (a restart, an idle timeout) is
dropped when it is checked out, without a round trip (:func:`_drop_closed`): asyncpg has seen
the server's end of the connection by then. ``pool_pre_ping`` would cost every checkout a
round trip to the server, which under load was a tenth of the api's CPU time.

Engines never log SQL parameters (token hashes, sealed keys): ``hide_parameters``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.config import Settings
from shared.crypto import KEY_FILE_NAME
from shared.sqlite_driver import one_trip_dbapi

Sessions = async_sessionmaker[AsyncSession]

# Postgres: up to CERTKEEPER_DATABASE_POOL_SIZE connections per process, which stay open
# once a burst opened them; past that a request waits for one to come back. No overflow:
# SQLAlchemy closes an overflow connection as it is returned, so under steady load past the
# pool every few requests paid a new connection (TCP, TLS negotiation, authentication, a
# backend process): with 20 + 10 overflow, 50 concurrent list clients saw a p99 twice the
# median. Waiting for a connection spreads the latencies too: 50 clients of the list over
# 30 connections saw a p99 1.6-1.8 times the median, over 50 connections 1.2 times.
SQLITE_BUSY_TIMEOUT_SECONDS = 30
SQLITE_POOL_SIZE = 1  # see the module's text
SQLITE_POOL_TIMEOUT_SECONDS = 60
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        secure_data_dir(settings)
        engine = create_async_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=0,
            pool_timeout=SQLITE_POOL_TIMEOUT_SECONDS,
            hide_parameters=True,
            module=one_trip_dbapi(),
        )
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    engine = create_async_engine(
        url, pool_size=settings.database_pool_size, max_overflow=0,
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "checkout", _drop_closed)
    return engine


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A connection the server has closed is not handed out: the pool replaces it."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection, outside any ORM session, for a read that is one statement: on
    Postgres in autocommit, where one statement reads one snapshot by itself and the BEGIN
    and ROLLBACK round trips around it are saved. No session is built or closed for it,
    which was a tenth of a list request's time in the api."""
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not emit its own deferred BEGIN: _begin_immediate does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def secure_data_dir(settings: Settings) -> None:
    """The embedded data dir is 0700 and the database (with its -wal and -shm files, which
    SQLite creates with the database file's mode) and the key file are 0600."""
    data_dir = settings.data_dir
    data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(data_dir, PRIVATE_DIR_MODE)
    database = make_url(settings.sqlalchemy_url).database
    if not database or database == ":memory:":
        return
    db_path = Path(database)
    db_path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm"),
                 data_dir / KEY_FILE_NAME):
        if path.exists():
            os.chmod(path, PRIVATE_FILE_MODE)


def create_sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, expire_on_commit=False)
