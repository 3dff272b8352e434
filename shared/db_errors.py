"""Database errors translated at the boundary: an outage is a 503 problem, a lost race a 409.

Which failures mean "the database cannot be used right now" (retry later) rather than "this
statement is wrong" (a bug): a connection the pool had to invalidate, SQLAlchemy's
``OperationalError`` / ``InterfaceError`` (SQLite's ``database is locked`` among them), a pool
timeout, asyncpg's connection, interface and operator-intervention errors (refused, reset,
closed, shutting down, starting up, too many connections), and the ``OSError`` a refused
connect raises.
"""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError

from shared.errors import Conflict, Problem

RETRY_AFTER_SECONDS = 5
# What the database layers raise; the API hands each of these to database_problem().
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError,
)
_CHAIN_DEPTH = 8

_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # the pool had no connection to give in time
    asyncpg.PostgresConnectionError,
    # A connection closed under a statement run on asyncpg itself (``shared.db_rows``): the
    # same failure SQLAlchemy reports as its InterfaceError when the statement goes through it.
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.TooManyConnectionsError,
    OSError,  # refused, reset, timed out, unknown host: includes TimeoutError
)


class DatabaseUnavailable(Problem):
    slug = "database-unavailable"
    title = "The database is unavailable; try again shortly"
    status = 503

    def __init__(self, detail: str, *, retry_after: float = RETRY_AFTER_SECONDS) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` or what caused it says the database cannot be reached or used."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if seen is None:
            return False
        if isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, _UNAVAILABLE):
            return True
        orig = seen.orig if isinstance(seen, sa_exc.DBAPIError) else None
        seen = orig if isinstance(orig, BaseException) else (seen.__cause__ or seen.__context__)
    return False


def database_problem(exc: BaseException) -> Problem | None:
    """The problem a client should see for a database error, or None for a real bug."""
    if isinstance(exc, StaleDataError):
        return Conflict("the resource changed while this request was handled; read it again")
    if is_database_unavailable(exc):
        return DatabaseUnavailable(f"the database could not be used: {type(exc).__name__}")
    return None
