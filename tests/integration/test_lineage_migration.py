"""Migration 0004 on a database with rows: each existing request gets its own lineage, its
certificate joins it and gets the lifetime rule's renewal time."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from sqlalchemy import select

from shared.config import Settings
from shared.db import create_engine, create_sessions
from shared.migrate import upgrade
from shared.models import Certificate, CertificateRequest, Lineage
from shared.states import RenewalSource

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=90)


def _seed(db: Path) -> tuple[str, str, str]:
    account, request, cert = uuid4().hex, uuid4().hex, uuid4().hex
    stamp = "2026-01-01 00:00:00.000000"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO acme_accounts (id, directory_url, terms_of_service_agreed, status, "
            "account_url, key_sealed, created_at, updated_at) VALUES (?, 'https://ca.test/d', "
            "1, 'valid', 'https://ca.test/a/1', x'00', ?, ?)", (account, stamp, stamp))
        conn.execute(
            "INSERT INTO certificate_requests (id, common_name, names, key_type, curve, "
            "challenge_type, validation, acme_account_id, auto_renew, status, version, "
            "attempts, polls, orders_placed, certificate_id, created_at, updated_at) VALUES "
            "(?, 'old.example.test', '[\"old.example.test\"]', 'ec', 'p-256', 'dns-01', "
            "'manual', ?, 0, 'issued', 1, 0, 0, 1, ?, ?, ?)",
            (request, account, cert, stamp, stamp))
        conn.execute(
            "INSERT INTO certificates (id, request_id, acme_account_id, common_name, names, "
            "serial, not_before, not_after, issuer, fingerprint_sha256, key_type, chain_pem, "
            "alternate_chains_pem, private_key_sealed, status, auto_renew, created_at, "
            "updated_at) VALUES (?, ?, ?, 'old.example.test', '[\"old.example.test\"]', 'ab', "
            "?, ?, 'CN=CA', 'ff', 'ec', '-', '[]', x'00', 'active', 0, ?, ?)",
            (cert, request, account, NOT_BEFORE.strftime("%Y-%m-%d %H:%M:%S.%f"),
             NOT_AFTER.strftime("%Y-%m-%d %H:%M:%S.%f"), stamp, stamp))
    return account, request, cert


async def test_existing_rows_get_one_lineage_each(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{db}"
    await asyncio.to_thread(upgrade, url, "0003")
    _, request_hex, cert_hex = _seed(db)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(Settings(database_url=url, data_dir=tmp_path))
    try:
        async with create_sessions(engine)() as session:
            lineage = (await session.scalars(select(Lineage))).one()
            request = (await session.scalars(select(CertificateRequest))).one()
            cert = (await session.scalars(select(Certificate))).one()
    finally:
        await engine.dispose()
    assert (request.id.hex, cert.id.hex) == (request_hex, cert_hex)
    assert request.lineage_id == cert.lineage_id == lineage.id
    assert (lineage.names, lineage.validation, lineage.auto_renew) == (
        ["old.example.test"], "manual", False)
    assert lineage.renew_before_seconds is None and lineage.profile is None
    assert cert.renewal_at == NOT_AFTER - timedelta(days=30)
    assert cert.renewal_source is RenewalSource.LIFETIME
