"""``certkeeper keys rotate`` re-seals every secret under the new first key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from shared.crypto import KEY_FILE_NAME, Keyring, new_key_spec
from shared.models import Base
from shared.models.base import SealedBytes
from tests.e2e.conftest import with_account
from tests.e2e.db import query
from tests.e2e.stack import Stack, embedded_stack, production_stack, run_cli


def _sealed_columns() -> list[tuple[str, str, str]]:
    """(table, column, context label) of every column of the sealed type in the schema,
    found in the metadata (not in the registry rotation reads, which this test checks)."""
    return [
        (table.name, column.name, column.type.label)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, SealedBytes)
    ]


# The webhook secrets are sealed too; their URLs point at a closed loopback port.
WEBHOOKS_ON_LOOPBACK = {"CERTKEEPER_WEBHOOK_ALLOW_PRIVATE": "true"}
HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture(scope="module")
def rotated() -> Iterator[Stack]:
    """Its own stack: after rotation its running process no longer holds the sealing key."""
    with embedded_stack(settings=WEBHOOKS_ON_LOOPBACK) as stack:
        yield with_account(stack)


def _sealed_values(database: Path) -> list[tuple[str, bytes]]:
    """(context, ciphertext) of every sealed value, read straight from the SQLite file."""
    found = []
    with sqlite3.connect(database) as db:
        for table, column, label in _sealed_columns():
            rows = db.execute(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
            found += [(f"{label}:{UUID(hex=row_id)}", value) for row_id, value in rows]
    return found


def test_rotate_reseals_everything_under_the_new_key(rotated: Stack) -> None:
    created = rotated.client().post("/v1/certificate-requests",
                                     json={"common_name": "rotate.example.test"})
    assert rotated.wait_final(created.json()["id"])["status"] == "issued"
    _add_stored_secrets(rotated)
    data_dir = Path(rotated.env["CERTKEEPER_DATA_DIR"])
    old_spec = (data_dir / KEY_FILE_NAME).read_text().strip()
    new_spec = new_key_spec()
    env = {**rotated.env, "CERTKEEPER_ENCRYPTION_KEYS": f"{new_spec},{old_spec}"}
    before = _sealed_values(data_dir / "certkeeper.db")
    # every sealed column holds a value, but the issued request's (its key moved on) and
    # the pending key of an account key rollover (none under way)
    assert {context.split(":")[0] for context, _ in before} == (
        {label for _, _, label in _sealed_columns()}
        - {"certificate_requests.private_key", "acme_accounts.pending_key"})

    first = run_cli(env, "keys", "rotate")
    again = run_cli(env, "keys", "rotate")

    new_only = Keyring.parse(new_spec)
    assert first.splitlines()[0] == (
        f"re-sealed {len(before)} value(s) under key {new_only.primary_id}")
    assert again.splitlines()[0] == f"re-sealed 0 value(s) under key {new_only.primary_id}"
    # one line per sealed column, with what it re-sealed and what was already current
    assert len(first.splitlines()) == 1 + len(_sealed_columns())
    assert "  certificates.private_key_sealed: 1 re-sealed, 0 already under it" in first
    assert "  certificates.private_key_sealed: 0 re-sealed, 1 already under it" in again
    after = _sealed_values(data_dir / "certkeeper.db")
    old_only = Keyring.parse(old_spec)
    for (context, old_value), (_, new_value) in zip(sorted(before), sorted(after), strict=True):
        assert new_only.open(new_value, context) == old_only.open(old_value, context)
        assert new_only.key_id_of(new_value) == new_only.primary_id, context


def _add_stored_secrets(stack: Stack) -> None:
    """A provider's credentials, a mapping's TSIG secret and two webhook secrets (a
    notification rule's, a deployment target's), sealed like the keys."""
    client = stack.client()
    provider = client.post("/v1/dns-providers", json={
        "name": "rotate-dns", "kind": "rfc2136",
        "config": {"server": "127.0.0.1:53", "tsig_key_name": "global."},
        "credentials": {"tsig_secret": "c2VjcmV0LW9uZQ=="},
    })
    assert provider.status_code == 201, provider.text
    mapping = client.post("/v1/domain-mappings", json={
        "domain": "rotate.example.test", "dns_provider_id": provider.json()["id"],
        "tsig_key_name": "rotate.", "tsig_secret": "c2VjcmV0LXR3bw==",
    })
    assert mapping.status_code == 201, mapping.text
    rule = client.post("/v1/notification-rules", json={
        "name": "rotate-hook", "channel": "webhook", "url": HOOK,
        "events": ["certificate.deleted"],
    })
    assert rule.status_code == 201, rule.text
    target = client.post("/v1/deployment-targets", json={
        "name": "rotate-hook", "kind": "webhook", "domains": ["nowhere.example.test"],
        "config": {"url": HOOK}, "secret": "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u",
    })
    assert target.status_code == 201, target.text


@pytest.fixture(scope="module")
def rotated_on_postgres() -> Iterator[Stack]:
    with production_stack(settings=WEBHOOKS_ON_LOOPBACK) as stack:
        yield with_account(stack)


def _sealed_on_postgres(stack: Stack) -> dict[tuple[str, str, str], bytes]:
    """(table, column, context) -> ciphertext of every sealed value, read with psql."""
    found = {}
    for table, column, label in _sealed_columns():
        rows = query(stack, f"SELECT id, encode({column}, 'hex') FROM {table} "
                            f"WHERE {column} IS NOT NULL")
        found.update({(table, column, f"{label}:{row_id}"): bytes.fromhex(value)
                      for row_id, value in rows})
    return found


def test_rotation_on_postgres_resumes_where_a_run_stopped(rotated_on_postgres: Stack) -> None:
    """A run that stopped half-way (here: one value already re-sealed under the new key)
    is finished by the next, which counts that value as already done."""
    stack = rotated_on_postgres
    created = stack.client().post("/v1/certificate-requests",
                                  json={"common_name": "rotate-pg.example.test", "key_type": "ec"})
    assert stack.wait_final(created.json()["id"])["status"] == "issued"
    _add_stored_secrets(stack)
    old_spec = stack.env["CERTKEEPER_ENCRYPTION_KEYS"]
    new_spec = new_key_spec()
    old_only, new_only = Keyring.parse(old_spec), Keyring.parse(new_spec)
    before = _sealed_on_postgres(stack)
    [(done_key, done_value)] = [(k, v) for k, v in before.items() if k[0] == "certificates"]
    table, column, context = done_key
    fresh = new_only.seal(old_only.open(done_value, context), context)
    query(stack, f"UPDATE {table} SET {column} = decode('{fresh.hex()}', 'hex') "
                 f"WHERE id = '{context.rsplit(':', 1)[1]}'")

    report = run_cli({**stack.env, "CERTKEEPER_ENCRYPTION_KEYS": f"{new_spec},{old_spec}"},
                     "keys", "rotate")

    assert report.splitlines()[0] == (
        f"re-sealed {len(before) - 1} value(s) under key {new_only.primary_id}")
    assert "  certificates.private_key_sealed: 0 re-sealed, 1 already under it" in report
    after = _sealed_on_postgres(stack)
    assert set(after) == set(before)
    for key, value in after.items():
        context = key[2]
        assert new_only.key_id_of(value) == new_only.primary_id, context
        if key != done_key:
            assert new_only.open(value, context) == old_only.open(before[key], context)
