"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs every sqlite3 call in a thread of its own, and SQLAlchemy's adapter makes
one call per cursor method: open the cursor, execute, fetch the rows, close: three or four
trips per statement, each a hand-off to the thread and a wake-up of the event loop (about
40 microseconds of CPU apiece). The all-in-one runs the api, the issuer and the database in
one process, so that cost was a sixth of its CPU per certificate. Here a statement is one
function run in the thread: the cursor is opened, the statement executed, its rows
fetched and the cursor closed there, and the adapter keeps what SQLAlchemy reads back
(rows, description, rowcount, lastrowid).

Plugged in as the engine's DBAPI module (``create_async_engine(..., module=...)``); the
dialect, the connection and server-side cursors are SQLAlchemy's own.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

Description = tuple[tuple[Any, ...], ...] | None
Outcome = tuple[Description, list[Any], int, int | None]


def _run(connection: sqlite3.Connection, call: Callable[[sqlite3.Cursor], object]) -> Outcome:
    """In aiosqlite's thread: one statement on a cursor of its own, read out and closed."""
    cursor = connection.cursor()
    try:
        call(cursor)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statements each make one trip to the connection's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    # Nothing is open between statements, so there is nothing to close by awaiting.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Description = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def execute(self, operation: Any, parameters: Any = None) -> None:
        if parameters is None:
            self._trip(lambda cursor: cursor.execute(operation))
        else:
            self._trip(lambda cursor: cursor.execute(operation, parameters))

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._trip(lambda cursor: cursor.executemany(operation, seq_of_parameters))

    def _trip(self, call: Callable[[sqlite3.Cursor], object]) -> None:
        try:
            outcome = await_(self._in_thread(call))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _in_thread(self, call: Callable[[sqlite3.Cursor], object]) -> Outcome:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome: Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, call)
            return outcome


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim, handing out :class:`OneTripConnection`."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def one_trip_dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
