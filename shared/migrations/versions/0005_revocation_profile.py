"""revocation on certificates, the ACME profile on requests

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 21:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revocation_reason", sa.String(length=32), nullable=True))
    with op.batch_alter_table("certificate_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificate_requests", schema=None) as batch_op:
        batch_op.drop_column("profile")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_column("revocation_reason")
        batch_op.drop_column("revoked_at")
