"""certificate list indexes: the keyset order (created_at, id), alone and after status

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 00:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_certificates_created_at_id": ["created_at", "id"],
    "ix_certificates_status_created_at_id": ["status", "created_at", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
