"""Inserts that skip rows whose unique key exists already (``ON CONFLICT DO NOTHING`` on
Postgres and SQLite): two notifiers writing the same delivery or sweep event write it once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Base


async def insert_new(session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]],
                     unique: str) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).on_conflict_do_nothing(index_elements=[unique])
    await session.execute(stmt, list(rows))
