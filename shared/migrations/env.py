"""Alembic environment: one history for Postgres and SQLite, run on the async engine."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from shared.models import Base
from shared.models.base import UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render our UTC column type as the plain type it stores, so migrations import nothing."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


# Postgres advisory lock taken around the whole upgrade, so `certkeeper migrate` run twice at
# once (two Job pods, two compose runs) applies the history once: the second waits, then
# finds the database at head. SQLite serializes its writers itself.
MIGRATION_LOCK_ID = 0x63_6B_6D_67  # "ckmg"
# The second run polls for the lock rather than waiting in pg_advisory_lock: a statement
# that waits holds a snapshot, and a migration building an index CONCURRENTLY waits for
# every older snapshot to end, so holder and waiter would deadlock.
MIGRATION_LOCK_POLL_SECONDS = 0.5


async def _lock(connection: AsyncConnection) -> None:
    """Session-level, so it spans the upgrade's own transactions; released on disconnect
    too. No transaction stays open between two tries."""
    if connection.dialect.name != "postgresql":
        return
    while True:
        taken = await connection.scalar(text("SELECT pg_try_advisory_lock(:id)"),
                                         {"id": MIGRATION_LOCK_ID})
        await connection.commit()
        if taken:
            return
        await asyncio.sleep(MIGRATION_LOCK_POLL_SECONDS)


async def _unlock(connection: AsyncConnection) -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_unlock(:id)"),
                                 {"id": MIGRATION_LOCK_ID})
        await connection.commit()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await _lock(connection)
            try:
                await connection.run_sync(_run)
                await connection.commit()
            finally:
                await connection.rollback()
                await _unlock(connection)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not set")
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
    else:
        asyncio.run(_run_async(url))


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
