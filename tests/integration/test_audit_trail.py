"""The audit trail: written with its cause, chained, append-only, filtered, verified."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from shared.config import Settings
from shared.db import create_engine, create_sessions
from shared.domain import audit
from shared.domain.audit_trail import verify_chain
from shared.domain.tokens import Principal
from shared.migrate import upgrade_async
from shared.models import AuditEvent
from shared.roles import Role
from tests.harness.postgres import PostgresServer, postgres_server
from tests.integration.api_harness import Api, api_over
from tests.integration.issuer_harness import start_issuer

CERTKEEPER = str(Path(sys.executable).parent / "certkeeper")
ACTOR = Principal(token_id=uuid4(), name="writer", role=Role.ADMIN)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    issuer = await start_issuer(tmp_path, order_retry_seconds=[60])
    started = api_over(issuer)
    yield started
    await started.aclose()
    await issuer.runtime.aclose()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


async def test_a_key_export_is_audited_with_the_caller_and_request_id(api: Api) -> None:
    token_id, token = await api.token(Role.OPERATOR, "deployer")
    cert = await api.certificate()
    response = await api.client(token).get(f"/v1/certificates/{cert}/private-key",
                                           headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-42"
    admin = api.client((await api.token(Role.ADMIN, "auditor"))[1])
    page = (await admin.get("/v1/audit-events", params={
        "action": "certificate.private_key_exported"})).json()
    [event] = page["items"]
    assert event["actor"] == {"token_id": str(token_id), "name": "deployer"}
    assert (event["target_type"], event["target_id"]) == ("certificate", str(cert))
    assert (event["outcome"], event["client_address"], event["request_id"]) == (
        "success", "192.0.2.7", "req-42")
    assert len(event["hash"]) == 64 and len(event["prev_hash"]) == 64


async def test_a_request_without_an_id_is_audited_with_the_id_it_was_answered_with(
    api: Api,
) -> None:
    _token_id, token = await api.token(Role.OPERATOR, "anonymous-trace")
    cert = await api.certificate()
    response = await api.client(token).get(f"/v1/certificates/{cert}/private-key")
    made = response.headers["x-request-id"]
    assert response.status_code == 200 and len(made) == 32
    admin = api.client((await api.token(Role.ADMIN, "auditor-2"))[1])
    page = (await admin.get("/v1/audit-events", params={
        "action": "certificate.private_key_exported", "target_id": str(cert)})).json()
    assert [event["request_id"] for event in page["items"]] == [made]


async def test_events_filter_and_page(api: Api) -> None:
    token_id, token = await api.token(Role.ADMIN, "root")
    admin = api.client(token)
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = [(await admin.post("/v1/tokens", json={"name": f"t{i}", "role": "viewer"})).json()["id"]
           for i in range(5)]
    seen: list[str] = []
    params: dict[str, Any] = {"action": "api_token.created", "limit": 2,
                              "since": start.isoformat()}
    while True:
        page = (await admin.get("/v1/audit-events", params=params)).json()
        seen.extend(item["target_id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == list(reversed(ids))  # newest first, each once
    for actor in (str(token_id), "root"):
        mine = (await admin.get("/v1/audit-events", params={"actor": actor})).json()["items"]
        assert len(mine) == 5
    one = (await admin.get("/v1/audit-events", params={"target_id": ids[2]})).json()["items"]
    assert [e["target_id"] for e in one] == [ids[2]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await admin.get("/v1/audit-events", params={"since": future})).json()["items"] == []
    bad = await admin.get("/v1/audit-events", params={"actor": "a\x00b"})
    assert bad.status_code == 422


async def test_a_rolled_back_change_leaves_no_event(api: Api) -> None:
    sessions = api.issuer.runtime.sessions
    async with sessions() as session:
        audit.record(session, ACTOR, "test.rolled_back", "thing", None)
        await session.rollback()
        await session.commit()
    async with sessions() as session:
        assert await session.scalar(select(AuditEvent.id)) is None


async def test_verify_names_the_first_changed_or_missing_event(api: Api) -> None:
    sessions = api.issuer.runtime.sessions
    for i in range(4):
        async with sessions() as session:
            audit.record(session, ACTOR, "test.event", "thing", None, n=i)
            await session.commit()
    report = await verify_chain(sessions)
    assert report.intact and report.events == 4
    with pytest.raises(DBAPIError, match="append-only"):
        await api.issuer.execute("UPDATE audit_events SET details = '{}' WHERE seq = 2")
    with pytest.raises(DBAPIError, match="append-only"):
        await api.issuer.execute("DELETE FROM audit_events WHERE seq = 2")

    await api.issuer.execute("DROP TRIGGER audit_events_no_update")  # an attacker with the DB
    await api.issuer.execute("""UPDATE audit_events SET details = '{"n": 9}' WHERE seq = 2""")
    report = await verify_chain(sessions)
    assert not report.intact and report.broken_at is not None
    assert (report.broken_at.seq, report.events) == (2, 1)
    assert "changed" in str(report.reason)
    code, out = _cli_verify(api)
    assert code == 1
    assert out.startswith(f"audit chain broken at event {report.broken_at.id} (seq 2,"), out

    await api.issuer.execute("DROP TRIGGER audit_events_no_delete")
    await api.issuer.execute("DELETE FROM audit_events WHERE seq = 2")
    report = await verify_chain(sessions)
    assert report.broken_at is not None and report.broken_at.seq == 3
    assert "missing" in str(report.reason)


def _cli_verify(api: Api) -> tuple[int, str]:
    settings = api.issuer.settings
    keys = settings.encryption_keys
    assert keys is not None
    env = {"CERTKEEPER_DATABASE_URL": settings.sqlalchemy_url,
           "CERTKEEPER_DATA_DIR": str(settings.data_dir),
           "CERTKEEPER_ENCRYPTION_KEYS": keys.get_secret_value(), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([CERTKEEPER, "audit", "verify"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    return done.returncode, done.stdout


async def test_the_cli_verifies_an_intact_chain(api: Api) -> None:
    await api.token(Role.ADMIN, "root")
    async with api.issuer.runtime.sessions() as session:
        audit.record(session, ACTOR, "test.event", "thing", None)
        await session.commit()
    code, _ = _cli_verify(api)
    assert code == 0


async def test_concurrent_writers_on_postgres_never_fork_the_chain(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    settings = Settings(database_url=postgres.dsn, data_dir=tmp_path)
    await upgrade_async(settings.sqlalchemy_url)
    engine = create_engine(settings)
    sessions = create_sessions(engine)
    writers = 40

    async def write(i: int) -> None:
        async with sessions() as session:
            audit.record(session, ACTOR, "test.concurrent", "thing", None, writer=i)
            audit.record(session, ACTOR, "test.concurrent", "thing", None, writer=i, second=1)
            await session.commit()

    try:
        async with sessions() as session:
            before = await session.scalar(text("SELECT count(*) FROM audit_events"))
        await asyncio.gather(*(write(i) for i in range(writers)))
        report = await verify_chain(sessions)
        assert report.intact, report.reason
        assert report.events == int(before or 0) + 2 * writers
        async with sessions() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text("DELETE FROM audit_events"))
    finally:
        await engine.dispose()
