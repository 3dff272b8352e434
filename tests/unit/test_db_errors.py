"""Which database errors are an outage (503), a lost race (409) or a bug (None)."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError

from shared.db_errors import DatabaseUnavailable, database_problem
from shared.errors import Conflict


def _wrapped(error: type[sa_exc.DBAPIError], orig: Exception, **kw: bool) -> Exception:
    return error("SELECT 1", {}, orig, **kw)


def _caused_by(cause: BaseException) -> Exception:
    try:
        raise RuntimeError("while using the pool") from cause
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(sa_exc.OperationalError, sqlite3.OperationalError("database is locked")),
        _wrapped(sa_exc.InterfaceError, Exception("connection is closed")),
        _wrapped(sa_exc.DBAPIError, Exception("terminating connection"),
                 connection_invalidated=True),
        sa_exc.TimeoutError("QueuePool limit reached"),
        ConnectionRefusedError(111, "Connect call failed"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed"),
        _caused_by(asyncpg.AdminShutdownError("terminating connection")),
        _wrapped(sa_exc.DBAPIError, asyncpg.TooManyConnectionsError("too many")),
    ],
    ids=["sqlite-locked", "interface", "invalidated", "pool-timeout", "refused",
         "starting-up", "closed", "admin-shutdown-cause", "too-many"],
)
def test_outages_are_503_with_retry_after(error: Exception) -> None:
    problem = database_problem(error)
    assert isinstance(problem, DatabaseUnavailable)
    assert problem.status == 503 and problem.retry_after > 0


def test_a_stale_row_is_a_conflict() -> None:
    assert isinstance(database_problem(StaleDataError("0 rows matched")), Conflict)


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(sa_exc.IntegrityError, Exception("duplicate key")),
        _wrapped(sa_exc.ProgrammingError, Exception("syntax error")),
        _wrapped(sa_exc.DBAPIError, ValueError("invalid input")),
        ValueError("not a database error"),
    ],
    ids=["integrity", "programming", "dbapi", "value"],
)
def test_bugs_are_not_translated(error: Exception) -> None:
    assert database_problem(error) is None
