"""Keyset pagination: newest first, an opaque cursor naming the last row seen."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy import Integer, Select, bindparam, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.db_rows import fetch_rows
from shared.errors import ValidationProblem

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# An encoded cursor is about 110 characters; anything much longer is not one of ours and is
# refused before it is decoded (a deeply nested JSON document would exhaust the recursion).
MAX_CURSOR_LENGTH = 256


class InvalidCursor(ValidationProblem):
    slug = "invalid-cursor"
    title = "The cursor is not one this service handed out"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The (created_at in UTC, id) a cursor names; InvalidCursor for anything else."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, row_id = json.loads(raw)
        if not isinstance(created, str) or not isinstance(row_id, str):
            raise TypeError("cursor fields are not strings")
        created_at, parsed_id = datetime.fromisoformat(created), UUID(row_id)
        if created_at.tzinfo is None:
            raise TypeError("naive time")
        return created_at.astimezone(UTC), parsed_id  # OverflowError past year 1 or 9999
    except (ValueError, TypeError, AttributeError, RecursionError, OverflowError):
        raise InvalidCursor("cursor is malformed") from None


# The bound parameters of a keyset statement: how many rows, and the position after which
# the page starts (the cursor's).
PAGE_LIMIT = "page_limit"
AFTER_CREATED = "page_after_created_at"
AFTER_ID = "page_after_id"


def keyset_statement(
    stmt: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[UUID],
    after: bool,
) -> Select[Any]:
    """``stmt`` newest first, limited to ``:page_limit`` rows and, when ``after``, to the
    rows past ``(:page_after_created_at, :page_after_id)``; :func:`page_params` gives the
    values. On a ``(created_at, id)`` index both the first and a deep page read only the
    rows they return. Without values in it, the statement can be built once and run for
    every page: SQLAlchemy then neither rebuilds it nor adapts its cached compilation."""
    if after:
        # A row comparison, which Postgres answers as one range of a (created_at, id) index.
        stmt = stmt.where(tuple_(created_at, row_id) < tuple_(
            bindparam(AFTER_CREATED, type_=created_at.type),
            bindparam(AFTER_ID, type_=row_id.type),
        ))
    return stmt.order_by(created_at.desc(), row_id.desc()).limit(
        bindparam(PAGE_LIMIT, type_=Integer)
    )


def page_params(cursor: str | None, limit: int) -> dict[str, Any]:
    """The values of a keyset statement for the page after ``cursor``: ``limit`` rows and
    one more, to tell whether another page follows."""
    params: dict[str, Any] = {PAGE_LIMIT: limit + 1}
    if cursor is not None:
        params[AFTER_CREATED], params[AFTER_ID] = decode_cursor(cursor)
    return params


def page_statement(
    stmt: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[UUID],
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """``stmt`` limited to the page after ``cursor``, its values bound in the statement."""
    keyset = keyset_statement(stmt, created_at=created_at, row_id=row_id,
                              after=cursor is not None)
    return keyset.params(page_params(cursor, limit))


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[UUID],
    cursor: str | None,
    limit: int,
) -> Page[Any]:
    """Run ``stmt`` (selecting one entity) newest first from ``cursor``, ``limit`` ORM
    instances. A list that must stay fast at any size uses :func:`paginate_rows`."""
    stmt = page_statement(stmt, created_at=created_at, row_id=row_id, cursor=cursor,
                          limit=limit)
    entities = list((await session.scalars(stmt)).all())
    return _page(entities, limit,
                 lambda row: (getattr(row, created_at.key), getattr(row, row_id.key)))


async def paginate_rows(
    connection: AsyncConnection,
    stmt: Select[Any],
    params: dict[str, Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[UUID],
    cursor: str | None,
    limit: int,
) -> Page[dict[str, Any]]:
    """Run ``stmt``, a :func:`keyset_statement` (``after`` when there is a ``cursor``)
    selecting columns, ``created_at`` and ``row_id`` among them, with ``params`` (its
    filters' values): ``limit`` plain rows after ``cursor``, as dicts keyed by column label
    (:func:`shared.db_rows.fetch_rows`, on ``connection``, one from
    :func:`shared.db.read_connection`): no ORM instance is built."""
    rows = await fetch_rows(connection, stmt, {**params, **page_params(cursor, limit)})
    return _page(rows, limit, lambda row: (row[created_at.key], row[row_id.key]))


def _page(rows: list[T], limit: int, position: Callable[[T], tuple[datetime, UUID]]
          ) -> Page[T]:
    """The first ``limit`` of ``rows`` (``limit`` + 1 were asked for), and the cursor after
    them when there were more."""
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    return Page(items=rows[:limit], next_cursor=encode_cursor(*position(rows[limit - 1])))
