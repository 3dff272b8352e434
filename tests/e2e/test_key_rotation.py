"""``certkeeper keys rotate`` re-seals every secret under the new first key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from shared.crypto import KEY_FILE_NAME, Keyring, new_key_spec
from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, embedded_stack, run_cli

SEALED = {
    "acme_accounts": ("key_sealed", "acme_accounts.key"),
    "certificate_requests": ("private_key_sealed", "certificate_requests.private_key"),
    "certificates": ("private_key_sealed", "certificates.private_key"),
}


@pytest.fixture(scope="module")
def rotated() -> Iterator[Stack]:
    """Its own stack: after rotation its running process no longer holds the sealing key."""
    with embedded_stack() as stack:
        yield with_account(stack)


def _sealed_values(database: Path) -> list[tuple[str, bytes]]:
    """(context, ciphertext) of every sealed value, read straight from the SQLite file."""
    found = []
    with sqlite3.connect(database) as db:
        for table, (column, prefix) in SEALED.items():
            rows = db.execute(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")
            found += [(f"{prefix}:{UUID(hex=row_id)}", value) for row_id, value in rows]
    return found


def test_rotate_reseals_everything_under_the_new_key(rotated: Stack) -> None:
    created = rotated.client().post("/v1/certificate-requests",
                                     json={"common_name": "rotate.example.test"})
    assert rotated.wait_final(created.json()["id"])["status"] == "issued"
    data_dir = Path(rotated.env["CERTKEEPER_DATA_DIR"])
    old_spec = (data_dir / KEY_FILE_NAME).read_text().strip()
    new_spec = new_key_spec()
    env = {**rotated.env, "CERTKEEPER_ENCRYPTION_KEYS": f"{new_spec},{old_spec}"}
    before = _sealed_values(data_dir / "certkeeper.db")
    assert len(before) >= 2

    first = run_cli(env, "keys", "rotate")
    again = run_cli(env, "keys", "rotate")

    new_only = Keyring.parse(new_spec)
    assert first == f"re-sealed {len(before)} value(s) under key {new_only.primary_id}"
    assert again == f"re-sealed 0 value(s) under key {new_only.primary_id}"
    after = _sealed_values(data_dir / "certkeeper.db")
    old_only = Keyring.parse(old_spec)
    for (context, old_value), (_, new_value) in zip(sorted(before), sorted(after), strict=True):
        assert new_only.open(new_value, context) == old_only.open(old_value, context)
