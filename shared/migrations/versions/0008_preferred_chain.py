"""preferred_chain on lineages and requests

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 23:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("lineages", "certificate_requests"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("preferred_chain", sa.String(length=255), nullable=True))


def downgrade() -> None:
    for table in ("certificate_requests", "lineages"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("preferred_chain")
