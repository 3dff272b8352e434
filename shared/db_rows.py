"""Plain rows of a Core ``SELECT``, as dicts, for the lists that must stay fast at any size.

On Postgres the statement, compiled once, runs on the pooled connection's asyncpg connection
and the rows are built from asyncpg's records: SQLAlchemy's result machinery (a cursor
adapter, a ``Row`` per row, a fetch call per row) cost a page of 100 certificates 0.23 ms of
0.71, against 0.29 for asyncpg's own fetch and decoding. Everything SQLAlchemy does to the
values is still done: each bound value goes through its type's bind processor, and each
column's value through its type's result processor where the type has one on the dialect,
so the rows are equal to what ``connection.execute`` gives (a test compares the two).

Errors are asyncpg's own there; the boundary (``shared.db_errors``) translates them as it
does SQLAlchemy's. On SQLite the statement runs through SQLAlchemy as usual: its values need
SQLAlchemy's processing, and the embedded database is not where a million rows live.

What a list selects can be read in the form its response writes, on both databases alike:
JSON columns as their stored text (:func:`json_text`), enums as strings
(:func:`plain_text`), UUIDs as their canonical text (:func:`uuid_text`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Select, String, Text, TypeDecorator, Uuid, cast, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement, Label
from sqlalchemy.sql.functions import FunctionElement

Processor = Callable[[Any], Any]
ColumnLike = ColumnElement[Any] | InstrumentedAttribute[Any]  # a column, or a mapped one


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # In the order of $1, $2, ...: a value to take from the caller's parameters (by name,
    # with its type's processor), or one the statement holds (processed already).
    binds: tuple[tuple[str | None, Any, Processor | None], ...]
    keys: tuple[str, ...]
    results: tuple[tuple[int, Processor], ...]  # (column position, processor), where any


async def fetch_rows(
    connection: AsyncConnection, stmt: Select[Any], params: dict[str, Any]
) -> list[dict[str, Any]]:
    """``stmt``'s rows with ``params`` bound, as dicts keyed by the selected columns' keys.
    ``stmt`` should be built once and reused (its compilation is cached by identity)."""
    if connection.dialect.driver != "asyncpg":
        result = await connection.execute(stmt, params)
        names = [str(key) for key in result.keys()]  # not SQLAlchemy's str subclass
        return [dict(zip(names, row, strict=True)) for row in result]
    compiled = _compile(stmt, connection.dialect)
    args = [value if name is None else params[name] if process is None
            else process(params[name]) for name, value, process in compiled.binds]
    raw = await connection.get_raw_connection()
    records = await raw.driver_connection.fetch(compiled.sql, *args)  # type: ignore[union-attr]
    keys = compiled.keys
    # A record has the statement's columns: zip's strict check (a sixth of building the
    # dicts) could not fail.
    rows = [dict(zip(keys, record)) for record in records]  # noqa: B905
    for position, process in compiled.results:
        key = keys[position]
        for row in rows:
            row[key] = process(row[key])
    return rows


@lru_cache(maxsize=512)
def _compile(stmt: Select[Any], dialect: Dialect) -> _Compiled:
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    fixed = compiled.params
    binds: list[tuple[str | None, Any, Processor | None]] = []
    for name in compiled.positiontup or ():
        # An IN list's values are written out as ``<name>_1``, ``<name>_2``, ... of its own.
        bind = compiled.binds[name if name in compiled.binds else name.rsplit("_", 1)[0]]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.required:
            binds.append((name, None, process))
        else:
            value = fixed[name]
            binds.append((None, value if process is None else process(value), None))
    columns = list(stmt.selected_columns)
    results = tuple(
        (position, process) for position, column in enumerate(columns)
        if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
        is not None
    )
    return _Compiled(sql=str(compiled), binds=tuple(binds),
                     keys=tuple(str(key) for key in stmt.selected_columns.keys()),
                     results=results)


class _JsonFragment(TypeDecorator[orjson.Fragment]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        raise TypeError("a JSON column's text is only read")

    def process_result_value(self, value: str | None, dialect: Dialect) -> orjson.Fragment | None:
        return None if value is None else orjson.Fragment(value)


def json_text(column: ColumnLike) -> Label[Any]:
    """A JSON column as the JSON text the database holds, to be written into a response as
    it is (``orjson.Fragment``), never parsed: decoding the names of a page of 100
    certificates and writing them again was a fifth of the page's CPU time."""
    return type_coerce(cast(column, Text), _JsonFragment).label(column.key)


def plain_text(column: ColumnLike) -> Label[Any]:
    """A string column (a string enum, say) as the plain string, without its type's
    conversion of every value read."""
    return type_coerce(column, String).label(column.key)


class _UuidAsText(FunctionElement[str]):
    """A UUID column as its canonical text, written by Postgres; as itself elsewhere."""

    inherit_cache = True


@compiles(_UuidAsText)
def _uuid_column(element: _UuidAsText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_UuidAsText, "postgresql")
def _uuid_as_text(element: _UuidAsText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


class _UuidText(TypeDecorator[str]):
    impl = Uuid
    cache_ok = True

    def column_expression(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        expression = _UuidAsText(column)
        expression.type = self  # what is read is this type's, and processed by it
        return expression

    def result_processor(self, dialect: Dialect, coltype: Any) -> Processor | None:
        if dialect.name == "postgresql":
            return None  # text already
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: UUID | str | None, dialect: Dialect) -> str | None:
        """SQLite's value: the 32 hex digits SQLAlchemy stores."""
        return None if value is None else str(UUID(str(value)))


def uuid_text(column: ColumnLike) -> Label[Any]:
    """A UUID column as its canonical text. On Postgres the database writes it: asyncpg's UUID
    objects are tracked by the garbage collector, and so is every dict holding one, so a
    page of 100 certificates (seven UUID columns) gave the api's collector some 700 objects
    more to scan at each collection; it spent 6 % of the api's time there under 50 clients,
    and a page cost 8 % more CPU."""
    return type_coerce(column, _UuidText).label(column.key)
