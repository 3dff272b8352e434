"""certificate list: the keyset index also holds not_after, so ?expires_before= filters in it

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 03:00:00.000000

``(created_at, id, not_after)`` replaces 0012's ``(created_at, id)`` and the plain
``(created_at)`` index: the same order and keyset cursor, and ``not_after < :t`` becomes an
index condition checked on index entries, so rows outside the window are skipped without
reading them from the table (the list order is kept; an index led by ``not_after`` would
have to sort the whole window). With ``(created_at)`` left beside it, the planner took that
one for a deep ``expires_before`` page and filtered table rows (862 removed for 101 kept, at
1,000,000 certificates). Every step is built CONCURRENTLY on Postgres
(:mod:`shared.migrations.index_ops`).
"""

from collections.abc import Sequence

from shared.migrations.index_ops import create_index, drop_index

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "certificates"
NEW = ("ix_certificates_created_at_id_not_after", ["created_at", "id", "not_after"])
REPLACED = {
    "ix_certificates_created_at_id": ["created_at", "id"],  # 0012
    "ix_certificates_created_at": ["created_at"],  # 0001
}


def upgrade() -> None:
    create_index(TABLE, *NEW)
    for name in REPLACED:
        drop_index(TABLE, name)


def downgrade() -> None:
    for name, columns in REPLACED.items():
        create_index(TABLE, name, columns)
    drop_index(TABLE, NEW[0])
