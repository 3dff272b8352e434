"""`certkeeper migrate` run twice at once on one fresh Postgres (two Job pods, two compose
runs): both exit 0 and the schema is the one the models declare, applied once."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.config import Settings
from shared.crypto import new_key_spec
from tests.e2e.stack import CERTKEEPER
from tests.harness.postgres import PostgresServer, postgres_server
from tests.harness.process import child_env
from tests.integration.test_schema import _differences

RUNS = 3


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def test_concurrent_migrate_runs_all_succeed_and_apply_the_history_once(
    postgres: PostgresServer,
) -> None:
    env = child_env({
        "CERTKEEPER_DATABASE_URL": postgres.dsn,
        "CERTKEEPER_ENCRYPTION_KEYS": new_key_spec(),
    })
    runs = [
        subprocess.Popen([CERTKEEPER, "migrate"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(RUNS)
    ]
    outcomes = [(run.wait(timeout=90), run.communicate()[1]) for run in runs]
    assert [code for code, _ in outcomes] == [0] * RUNS, [err[-1500:] for _, err in outcomes]
    asyncio.run(_assert_migrated_once(postgres))


async def _assert_migrated_once(postgres: PostgresServer) -> None:
    engine = create_async_engine(Settings(database_url=postgres.dsn).sqlalchemy_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version")))
            assert len(versions.all()) == 1
            locks = await connection.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            ))
            assert locks.scalar_one() == 0, "a migrate run left its lock behind"
    finally:
        await engine.dispose()
