"""Migration 0008 on a database with rows: existing audit events are chained in the order
they were written (and verify), existing requests get their name rows, old tokens stay
unscoped and never expire."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from uuid import uuid4

from sqlalchemy import select

from shared.config import Settings
from shared.db import create_engine, create_sessions
from shared.domain.audit_trail import verify_chain
from shared.migrate import upgrade
from shared.models import ApiToken, AuditEvent, RequestName
from tests.integration.test_lineage_migration import _seed


def _seed_governance(db: Path) -> list[str]:
    events = [uuid4().hex for _ in range(3)]
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO api_tokens (id, name, role, token_hash, created_at, updated_at) "
            "VALUES (?, 'old', 'admin', ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            (uuid4().hex, "ab" * 32))
        for i, event in enumerate(events):
            conn.execute(
                "INSERT INTO audit_events (id, at, actor_token_id, actor_name, action, "
                "resource_type, resource_id, details) VALUES (?, ?, NULL, 'old', "
                "'certificate.private_key_exported', 'certificate', ?, ?)",
                (event, f"2026-01-0{3 - i} 00:00:00.000000", uuid4().hex, json.dumps({"i": i})))
    return list(reversed(events))  # in the order they were written


async def test_existing_rows_are_chained_and_named(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{db}"
    await asyncio.to_thread(upgrade, url, "0003")
    _, request_hex, _ = _seed(db)
    await asyncio.to_thread(upgrade, url, "0005")
    written = _seed_governance(db)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(Settings(database_url=url, data_dir=tmp_path))
    sessions = create_sessions(engine)
    try:
        report = await verify_chain(sessions)
        async with sessions() as session:
            events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.seq))).all()
            names = (await session.scalars(select(RequestName))).all()
            token = (await session.scalars(select(ApiToken))).one()
    finally:
        await engine.dispose()
    assert report.intact and report.events == 3
    assert [e.id.hex for e in events] == written
    assert [(e.target_type, e.outcome) for e in events] == [("certificate", "success")] * 3
    assert [(n.request_id.hex, n.name) for n in names] == [(request_hex, "old.example.test")]
    assert (token.domains, token.expires_at) == ([], None)
