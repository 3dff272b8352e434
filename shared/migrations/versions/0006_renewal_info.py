"""the CA's renewal window (RFC 9773 ARI) on certificates

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ari_window_start", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("ari_window_end", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ari_check_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_certificates_ari_check_at"), ["ari_check_at"])
    # Existing active certificates ask their CA once; one without ARI answers "never again".
    op.execute(
        "UPDATE certificates SET ari_check_at = CURRENT_TIMESTAMP "
        "WHERE status = 'active' AND auto_renew"
    )


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_ari_check_at"))
        batch_op.drop_column("ari_check_at")
        batch_op.drop_column("ari_window_end")
        batch_op.drop_column("ari_window_start")
