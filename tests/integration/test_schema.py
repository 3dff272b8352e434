"""The alembic history builds exactly the schema the models declare, on both databases, and
every sealed column is registered for key rotation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.config import Settings
from shared.domain.keys import sealed_columns
from shared.migrate import upgrade_async
from shared.models import Base
from shared.models.base import SealedBytes, UTCDateTime
from tests.harness.postgres import PostgresServer, postgres_server


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def _compare_type(_ctx: Any, _inspected: Any, _metadata: Any, inspected: Any, declared: Any
                  ) -> bool | None:
    """Our UTC column is stored as a plain timezone-aware DateTime."""
    if isinstance(declared, UTCDateTime):
        return False
    return None


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": _compare_type})
    return list(compare_metadata(context, Base.metadata))


async def _schema_differences(url: str) -> list[Any]:
    await upgrade_async(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_differences)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    assert await _schema_differences(f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}") == []


async def test_migrations_match_the_models_on_postgres(postgres: PostgresServer) -> None:
    url = Settings(database_url=postgres.dsn).sqlalchemy_url
    assert await _schema_differences(url) == []


def test_every_sealed_column_is_registered_for_rotation() -> None:
    """A secret column left out of the registry would keep its old key after rotation: every
    binary column, and every column named ``*_sealed``, must be of the sealed type, and the
    registry rotation walks is exactly the set of such columns."""
    binary = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.name.endswith("_sealed")
        or isinstance(column.type, LargeBinary | SealedBytes)
        or isinstance(getattr(column.type, "impl", None), LargeBinary)
    }
    of_sealed_type = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, SealedBytes)
    }
    assert binary == of_sealed_type
    registered = {(c.column.table.name, c.column.name) for c in sealed_columns()}
    assert registered == of_sealed_type
    assert {("dns_providers", "credentials_sealed"), ("domain_mappings", "tsig_secret_sealed"),
            ("acme_accounts", "pending_key_sealed")} <= registered


def test_sealing_contexts_are_distinct_per_column() -> None:
    """The context binds a ciphertext to its column: no two columns share a label."""
    labels = [c.sealed_type.label for c in sealed_columns()]
    assert len(labels) == len(set(labels))
